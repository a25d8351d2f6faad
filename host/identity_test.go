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
	// Written through a temporary file that is gone, with mode 0600.
	es, _ := os.ReadDir(dir)
	if len(es) != 1 || es[0].Name() != "peer-name" {
		t.Errorf("data dir holds %v, want only peer-name", es)
	}
	if fi, err := os.Stat(filepath.Join(dir, "peer-name")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("peer-name mode: %v %v", fi, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "peer-name"), []byte("junk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreatePeerName(dir); err == nil {
		t.Error("a corrupt peer-name file was accepted")
	}
}
