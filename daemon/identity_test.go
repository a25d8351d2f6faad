package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/kube"
)

func TestPeerNameIsSavedAndReused(t *testing.T) {
	dir := t.TempDir()
	n1, _, err := peerName(config.Config{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	n2, _, err := peerName(config.Config{DataDir: dir})
	if err != nil || n2 != n1 {
		t.Fatalf("second peerName = %v, %v; want %v", n2, err, n1)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("02:00:00:00:00:09\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, _, err := peerName(config.Config{DataDir: dir}); err != nil || n.String() != "02:00:00:00:00:09" {
		t.Fatalf("peerName from file = %v, %v", n, err)
	}
	if n, _, err := peerName(config.Config{DataDir: dir, Name: "02:00:00:00:00:07"}); err != nil || n.String() != "02:00:00:00:00:07" {
		t.Fatalf("peerName with --name = %v, %v", n, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := peerName(config.Config{DataDir: dir}); err == nil {
		t.Fatal("a corrupt peer-name file was accepted")
	}
}

// In Kubernetes mode the name is derived from the node's, written over
// the data directory's, and the same on every start.
func TestPeerNameKube(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("02:00:00:00:00:09\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.Config{DataDir: dir, Kube: true, KubeNodeName: "node-a"}
	want := kube.PeerNameOf("node-a")
	n, replaced, err := peerName(c)
	if err != nil || n != want || replaced.String() != "02:00:00:00:00:09" {
		t.Fatalf("peerName = %v, %v, %v; want %v replacing 02:00:00:00:00:09", n, replaced, err, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "peer-name")); string(b) != want.String()+"\n" {
		t.Errorf("peer-name holds %q, want %s", b, want)
	}
	if n, replaced, err := peerName(c); err != nil || n != want || replaced != 0 {
		t.Fatalf("second start: %v, %v, %v; want %v replacing nothing", n, replaced, err, want)
	}
	c.Name = "02:00:00:00:00:07"
	if n, _, err := peerName(c); err != nil || n.String() != "02:00:00:00:00:07" {
		t.Fatalf("--name in Kubernetes mode = %v, %v", n, err)
	}
}
