package meshsecret

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of an empty dir: err = %v, want ErrNotExist", err)
	}
	s1, created, err := LoadOrCreate(dir)
	if err != nil || !created || len(s1) < 40 {
		t.Fatalf("first LoadOrCreate = %q, %v, %v", s1, created, err)
	}
	fi, err := os.Stat(Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	s2, created, err := LoadOrCreate(dir)
	if err != nil || created || string(s2) != string(s1) {
		t.Fatalf("second LoadOrCreate = %q, %v, %v; want %q, false", s2, created, err, s1)
	}
	// The file works as a --password-file: the secret is its text.
	b, _ := os.ReadFile(Path(dir))
	if string(b) != string(s1)+"\n" {
		t.Fatalf("file holds %q, want the secret and a newline", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("data dir holds %d entries, want only the secret (no temporary files)", len(ents))
	}
}

func TestStore(t *testing.T) {
	dir := t.TempDir()
	if replaced, err := Store(dir, []byte("one")); err != nil || replaced {
		t.Fatalf("Store into an empty dir: %v, %v", replaced, err)
	}
	if replaced, err := Store(dir, []byte("one")); err != nil || replaced {
		t.Fatalf("Store of the same secret: %v, %v", replaced, err)
	}
	if replaced, err := Store(dir, []byte("two")); err != nil || !replaced {
		t.Fatalf("Store of another secret: %v, %v", replaced, err)
	}
	s, created, err := LoadOrCreate(dir)
	if err != nil || created || string(s) != "two" {
		t.Fatalf("LoadOrCreate after Store = %q, %v, %v", s, created, err)
	}
	if fi, _ := os.Stat(Path(dir)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := Store(dir, []byte("a\nb")); err == nil {
		t.Fatal("Store accepted a secret with a line break")
	}
}

func TestLoadEmptyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(Path(dir), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(dir); err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an empty secret file: err = %v, want an error naming it", err)
	}
}
