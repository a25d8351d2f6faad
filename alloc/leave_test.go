package alloc

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func TestLeave(t *testing.T) {
	up := map[frame.PeerName]bool{1: true, 2: true, 3: true}
	alive := func(p frame.PeerName) bool { return up[p] }
	seeds := []frame.PeerName{1, 2, 3}
	store := &MemStore{}
	a := newTest(t, 1, "10.32.0.0/16", seeds, alive)
	b := newTest(t, 2, "10.32.0.0/16", seeds, alive)
	c, err := New(Config{Self: 3, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: seeds, Alive: alive, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, c)
	sub := netip.MustParsePrefix("10.32.192.0/24")
	if _, err := c.Allocate("cx", sub); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, c)

	// With every other member unreachable there is nobody to hand to.
	up = map[frame.PeerName]bool{3: true}
	if _, _, err := c.Leave(); !errors.Is(err, ErrNoHeir) {
		t.Fatalf("Leave with every member unreachable = %v, want ErrNoHeir", err)
	}
	if c.Left() {
		t.Fatal("a refused Leave left the ring")
	}

	up = map[frame.PeerName]bool{1: true, 2: true, 3: true}
	heir, n, err := c.Leave()
	if err != nil {
		t.Fatal(err)
	}
	// Seeds split 65536 addresses three ways: 3 owns the remainder.
	if want := uint64(65536 - 2*(65536/3)); heir == frame.UnknownPeer || heir == 3 || n != want {
		t.Fatalf("Leave = heir %s, %d addresses; want 1 or 2, %d", heir, n, want)
	}
	if again, n2, err := c.Leave(); err != nil || again != heir || n2 != n {
		t.Fatalf("second Leave = %s %d %v; want the first's answer", again, n2, err)
	}
	if _, err := c.Allocate("cy", sub); !errors.Is(err, ErrLeft) {
		t.Fatalf("Allocate after Leave = %v, want ErrLeft", err)
	}
	if len(c.Lookup("cx")) != 0 {
		t.Fatalf("cx kept %v after Leave", c.Lookup("cx"))
	}
	if c.LeaveKnown() {
		t.Fatal("leave known before any peer merged it")
	}
	exchange(t, a, b, c)
	if !c.LeaveKnown() {
		t.Fatal("no peer's state confirmed the leave")
	}
	// Leaving 3 is not alive; the others own everything and need no rmpeer.
	up = map[frame.PeerName]bool{1: true, 2: true}
	for _, x := range []*Allocator{a, b} {
		for _, e := range x.st.Ring.Entries {
			if e.Owner == 3 {
				t.Fatalf("%s: 3 still owns %s", x.self, u32ToAddr(e.Token))
			}
		}
		if m := x.st.Members[3]; m.active() {
			t.Fatalf("%s: 3 is still an active member", x.self)
		}
	}
	// The heir hands out 3's old addresses, which includes cx's.
	h := a
	if heir == 2 {
		h = b
	}
	if _, err := h.Allocate("new", sub); err != nil {
		t.Fatalf("heir allocates in the subnet 3 had: %v", err)
	}
	exchange(t, a, b)
	if _, err := a.Propose([]frame.PeerName{3}); !errors.Is(err, ErrRefused) {
		t.Fatalf("rmpeer of a peer that left = %v, want refused (removed already)", err)
	}

	// 3 starts again from its data: it rejoins as a new member, without space.
	up[3] = true
	c2, err := New(Config{Self: 3, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: seeds, Alive: alive, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, c2)
	if m := c2.me(); !m.active() || m.Epoch != 1 || c2.Lost() != 0 {
		t.Fatalf("after restart: member %+v lost %d", m, c2.Lost())
	}
	if c2.ownsSpace(3) {
		t.Fatal("the peer that left owns space again after a restart")
	}
}

func TestLeaveAlone(t *testing.T) {
	a := newTest(t, 1, "10.32.0.0/24", []frame.PeerName{1}, nil)
	if heir, n, err := a.Leave(); err != nil || heir != frame.UnknownPeer || n != 0 {
		t.Fatalf("Leave of the only member = %s %d %v, want nothing to hand", heir, n, err)
	}
	if a.Left() {
		t.Fatal("the only member left its ring")
	}
}
