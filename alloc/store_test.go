package alloc

import (
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// flakyStore is a MemStore whose writes fail while fail is set.
type flakyStore struct {
	MemStore
	failKey, failState bool
}

var errDisk = errors.New("disk full")

func (s *flakyStore) SaveKey(key string, addrs []netip.Addr) error {
	if s.failKey {
		return errDisk
	}
	return s.MemStore.SaveKey(key, addrs)
}

func (s *flakyStore) SaveState(b []byte) error {
	if s.failState {
		return errDisk
	}
	return s.MemStore.SaveState(b)
}

func newStored(t *testing.T, st Store) *Allocator {
	t.Helper()
	a, err := New(Config{Self: 1, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: []frame.PeerName{1}, Store: st,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func checkInv(t *testing.T, a *Allocator) {
	t.Helper()
	if err := a.checkInvariants(); err != nil {
		t.Fatal(err)
	}
}

// An allocation the Store refuses fails and hands nothing out; once the
// Store works again the same address is given.
func TestAllocateNotSaved(t *testing.T) {
	st := &flakyStore{}
	a := newStored(t, st)
	sub := DefaultSubnet(a.Universe())
	st.failKey = true
	if ad, err := a.Allocate("x", sub); !errors.Is(err, ErrNotSaved) || !errors.Is(err, errDisk) {
		t.Fatalf("Allocate with a failing store = %v, %v; want ErrNotSaved", ad, err)
	}
	if got := a.Lookup("x"); len(got) != 0 {
		t.Fatalf("x holds %v after a failed allocation", got)
	}
	checkInv(t, a)
	if err := a.Claim("y", netip.MustParseAddr("10.32.5.5")); !errors.Is(err, ErrNotSaved) {
		t.Fatalf("Claim with a failing store = %v, want ErrNotSaved", err)
	}
	if got := a.Lookup("y"); len(got) != 0 {
		t.Fatalf("y holds %v after a failed claim", got)
	}
	checkInv(t, a)
	st.failKey = false
	x, err := a.Allocate("x", sub)
	if err != nil {
		t.Fatal(err)
	}
	_, disk, _ := st.Load()
	if got := disk["x"]; len(got) != 1 || got[0] != x {
		t.Fatalf("stored x = %v, want %s", got, x)
	}
	checkInv(t, a)
}

// A release the Store refuses frees the address in memory and is written
// at the next Tick.
func TestReleaseRetried(t *testing.T) {
	st := &flakyStore{}
	a := newStored(t, st)
	if _, err := a.Allocate("x", DefaultSubnet(a.Universe())); err != nil {
		t.Fatal(err)
	}
	st.failKey = true
	if got := a.Release("x"); len(got) != 1 {
		t.Fatalf("Release = %v", got)
	}
	a.Tick()
	if _, disk, _ := st.Load(); len(disk["x"]) != 1 {
		t.Fatalf("stored x = %v while the store fails", disk["x"])
	}
	st.failKey = false
	a.Tick()
	if _, disk, _ := st.Load(); len(disk["x"]) != 0 {
		t.Fatalf("stored x = %v after the store recovered, want none", disk["x"])
	}
}

// While the state cannot be saved nothing is allocated or gossiped.
func TestStateNotSaved(t *testing.T) {
	st := &flakyStore{}
	a := newStored(t, st)
	st.failState = true
	a.updateSelf(func(m *Member) {}) // a change that must reach the disk
	if a.Encode() != nil {
		t.Error("an unsaved state is gossiped")
	}
	if _, err := a.Allocate("x", DefaultSubnet(a.Universe())); !errors.Is(err, ErrNotSaved) {
		t.Errorf("Allocate with an unsaved state = %v, want ErrNotSaved", err)
	}
	if _, err := New(Config{Self: 2, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: []frame.PeerName{2}, Store: st, Logger: slog.New(slog.DiscardHandler)}); !errors.Is(err, ErrNotSaved) {
		t.Errorf("New with a store that refuses the state = %v, want ErrNotSaved", err)
	}
	st.failState = false
	a.Tick()
	b := a.Encode()
	if b == nil {
		t.Fatal("nothing gossiped after the store recovered")
	}
	disk, _, _ := st.Load()
	if string(disk) != string(b) {
		t.Error("the gossiped state is not the stored one")
	}
	if _, err := a.Allocate("x", DefaultSubnet(a.Universe())); err != nil {
		t.Errorf("Allocate after the store recovered: %v", err)
	}
}

func TestBoltCorrupt(t *testing.T) {
	dir := t.TempDir()
	corrupt := func(name string, path string) {
		t.Helper()
		st, err := OpenBolt(path)
		if err == nil {
			_, _, err = st.Load()
			st.Close()
		}
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Path != path {
			t.Fatalf("%s: %v, want a CorruptError naming %s", name, err, path)
		}
		if msg := err.Error(); !strings.Contains(msg, path) || !strings.Contains(msg, "move it aside") || strings.Contains(msg, "\n") {
			t.Errorf("%s: message %q does not say in one line which file and what to do", name, msg)
		}
	}

	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt("junk file", junk)

	// A valid database whose state does not decode.
	bad := filepath.Join(dir, "badstate.db")
	st, err := OpenBolt(bad)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveState([]byte{0xff, 1, 2}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	corrupt("undecodable state", bad)

	// A valid database whose data pages were overwritten: bbolt panics on
	// some such pages; either way it is a CorruptError.
	pages := filepath.Join(dir, "pages.db")
	st, err = OpenBolt(pages)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Self: 1, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: []frame.PeerName{1}, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Allocate("x", DefaultSubnet(a.Universe())); err != nil {
		t.Fatal(err)
	}
	st.Close()
	b, err := os.ReadFile(pages)
	if err != nil {
		t.Fatal(err)
	}
	ps := os.Getpagesize()
	for i := 2 * ps; i < len(b); i++ {
		b[i] = 0xa5
	}
	if err := os.WriteFile(pages, b, 0o600); err != nil {
		t.Fatal(err)
	}
	corrupt("overwritten pages", pages)
}

func TestNoPanic(t *testing.T) {
	err := noPanic(func() error { panic("invalid page type: 7") })
	if err == nil || !strings.Contains(err.Error(), "invalid page type") {
		t.Fatalf("noPanic = %v", err)
	}
	if err := noPanic(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// A database another process holds is not called damaged.
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	st, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = OpenBolt(path)
	var ce *CorruptError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second open = %v, want an in-use error", err)
	}
}
