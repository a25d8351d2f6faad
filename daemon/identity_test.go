package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/weave-switch/weave-switch/config"
)

func TestPeerNameIsSavedAndReused(t *testing.T) {
	dir := t.TempDir()
	n1, err := peerName(config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n2, err := peerName(config.Config{DataDir: dir})
	if err != nil || n2 != n1 {
		t.Fatalf("second peerName = %v, %v; want %v", n2, err, n1)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("02:00:00:00:00:09\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := peerName(config.Config{DataDir: dir}); err != nil || n.String() != "02:00:00:00:00:09" {
		t.Fatalf("peerName from file = %v, %v", n, err)
	}
	if n, err := peerName(config.Config{DataDir: dir, Name: "02:00:00:00:00:07"}); err != nil || n.String() != "02:00:00:00:00:07" {
		t.Fatalf("peerName with --name = %v, %v", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := peerName(config.Config{DataDir: dir}); err == nil {
		t.Fatal("a corrupt peer-name file was accepted")
	}
}
