package host

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreatePeerName(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, err := LoadOrCreatePeerName(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreatePeerName(dir)
	if err != nil || a != b {
		t.Fatalf("second load = %v, %v; want %v", b, err, a)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("junk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreatePeerName(dir); err == nil {
		t.Error("a corrupt peer-name file was accepted")
	}
}
