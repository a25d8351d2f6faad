package alloc

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// TestIdle: an allocator is idle (Tick has nothing to do) once the ring
// has settled, and not while a member wants space, a claim waits for its
// grant or a reclaim runs.
func TestIdle(t *testing.T) {
	up := map[frame.PeerName]bool{1: true, 2: true, 3: true}
	a, b, c := seededThree(t, &up)
	if !a.Idle() {
		t.Fatal("before the ring: not idle")
	}
	exchange(t, a, b, c)
	idle := func(when string, want bool, as ...*Allocator) {
		t.Helper()
		for _, x := range as {
			if x.Idle() != want {
				t.Fatalf("%s: %s idle %v, want %v", when, x.self, x.Idle(), want)
			}
		}
	}
	idle("settled ring", true, a, b, c)

	// 2 allocates where only 1 has space: 2 wants, and 1 sees the want.
	sub := netip.MustParsePrefix("10.32.0.0/20")
	if _, err := b.Allocate("x", sub); !errors.Is(err, ErrPending) {
		t.Fatalf("allocation in another peer's space: %v, want ErrPending", err)
	}
	b.Tick()
	idle("2 wants space", false, b)
	if err := a.Merge(b.Encode()); err != nil {
		t.Fatal(err)
	}
	idle("2's want seen", false, a)
	exchange(t, a, b, c)
	if _, err := b.Allocate("x", sub); err != nil {
		t.Fatalf("allocation after the donation: %v", err)
	}
	exchange(t, a, b, c)
	idle("want answered", true, a, b, c)

	// A claim in 1's space waits for the grant.
	if err := c.Claim("z", netip.MustParseAddr("10.32.0.200")); !errors.Is(err, ErrPending) {
		t.Fatalf("claim in another peer's space: %v, want ErrPending", err)
	}
	idle("claim waiting", false, c)
	exchange(t, a, b, c)
	idle("claim granted", true, a, b, c)

	// 3 dies; 1 reclaims its space: not idle until it committed.
	up = map[frame.PeerName]bool{1: true, 2: true}
	if _, err := a.Propose([]frame.PeerName{3}); err != nil {
		t.Fatal(err)
	}
	idle("reclaim proposed", false, a)
	exchange(t, a, b)
	idle("reclaim committed", true, a, b)
}

// TestServiceTicksSeldomWhenIdle: an idle Service ticks its allocator
// every IdleTickInterval, not every TickInterval; a call that gives it
// work (a claim waiting for its grant) brings the fast ticks back.
func TestServiceTicksSeldomWhenIdle(t *testing.T) {
	all := func(frame.PeerName) bool { return true }
	s, err := NewService(Config{Self: 1, Universe: netip.MustParsePrefix("10.32.0.0/16"),
		Seeds: []frame.PeerName{1, 2}, Alive: all})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ticks := func() uint64 {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.a.ticks
	}
	// Peer 2, an Allocator of the test's, makes the ring with it.
	b := newTest(t, 2, "10.32.0.0/16", []frame.PeerName{1, 2}, all)
	for range 10 {
		b.Tick()
		if st := b.Encode(); st != nil {
			if err := s.GossipMerge(2, st); err != nil {
				t.Fatal(err)
			}
		}
		if st := s.GossipState(); st != nil {
			if err := b.Merge(st); err != nil {
				t.Fatal(err)
			}
		}
	}
	s.mu.Lock()
	ready := s.a.st != nil && !s.a.fresh && s.a.Idle()
	s.mu.Unlock()
	if !ready {
		t.Fatal("no settled ring after the exchange")
	}
	// The next tick may be TickInterval away (the merges asked for it);
	// after it, none for IdleTickInterval.
	time.Sleep(2 * TickInterval)
	n0 := ticks()
	time.Sleep(6 * TickInterval)
	if n := ticks() - n0; n > 1 {
		t.Fatalf("idle: %d ticks in %v, want at most 1 (every %v)", n, 6*TickInterval, IdleTickInterval)
	}
	// A claim in 2's space: pending until 2 grants it, which it never
	// does here; the allocator ticks every TickInterval meanwhile.
	var in2 netip.Addr
	s.mu.Lock()
	for i := range s.a.st.Ring.Entries {
		if e := s.a.st.Ring.Entries[i]; e.Owner == 2 {
			in2 = u32ToAddr(uint32(s.a.st.Ring.rangeOf(i).lo) + 1)
			break
		}
	}
	s.mu.Unlock()
	if !in2.IsValid() {
		t.Fatal("no range of peer 2 in the seeded ring")
	}
	if err := s.Claim("c", in2); !errors.Is(err, ErrPending) {
		t.Fatalf("claim of %s in 2's space: %v, want ErrPending", in2, err)
	}
	n1 := ticks()
	deadline := time.Now().Add(20 * time.Second)
	for ticks()-n1 < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := ticks() - n1; n < 3 {
		t.Fatalf("with a claim waiting: %d ticks in 20 s, want at least 3", n)
	}
}
