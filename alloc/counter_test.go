package alloc

import (
	"errors"
	"math"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

const top = math.MaxUint32

func TestIncSaturates(t *testing.T) {
	if v, ok := inc(7); v != 8 || !ok {
		t.Fatalf("inc(7) = %d, %v", v, ok)
	}
	if v, ok := inc(top); v != top || ok {
		t.Fatalf("inc(max) = %d, %v", v, ok)
	}
}

// Counters at their maximum stay there: the changes that would need a
// higher number are not made, and nothing wraps to below older copies.
func TestCountersSaturate(t *testing.T) {
	alive := func(frame.PeerName) bool { return true }
	seeds := []frame.PeerName{1, 2}
	a := newTest(t, 1, "10.32.0.0/16", seeds, alive)
	b := newTest(t, 2, "10.32.0.0/16", seeds, alive)
	exchange(t, a, b)
	ours := netip.MustParsePrefix("10.32.1.0/24")     // in a's half
	theirs := netip.MustParsePrefix("10.32.128.0/17") // b's whole half

	// a's range at the maximum version: allocations work, the free count
	// stops being updated.
	e := &a.st.Ring.Entries[a.st.Ring.find(uint64(addrToU32(ours.Addr())))]
	e.Version = top
	free := e.Free
	if _, err := a.Allocate("x", ours); err != nil {
		t.Fatal(err)
	}
	a.Tick()
	if e := a.st.Ring.Entries[a.st.Ring.find(uint64(addrToU32(ours.Addr())))]; e.Version != top || e.Free != free {
		t.Fatalf("entry at the maximum version became %+v", e)
	}

	// b's range at the maximum version, and a's register too: a cannot
	// publish its want, and b could not donate that range anyway.
	for i := range b.st.Ring.Entries {
		if b.st.Ring.Entries[i].Owner == 2 {
			b.st.Ring.Entries[i].Version = top
		}
	}
	a.st.Members[1].Version = top
	if _, err := a.Allocate("y", theirs); !errors.Is(err, ErrPending) {
		t.Fatalf("Allocate in b's space: %v, want ErrPending", err)
	}
	if m := a.me(); m.Version != top || len(m.Wants) != 0 {
		t.Fatalf("register at the maximum version changed: %+v", m)
	}
	a.st.Members[1].Version = 7
	a.syncWants()
	if m := a.me(); m.Version != 8 || len(m.Wants) != 1 {
		t.Fatalf("register did not publish the want: %+v", m)
	}
	// b cannot hand over a range whose token is at the maximum version;
	// it can cut a new token (version 1) inside it and hand that over.
	tok := uint64(addrToU32(theirs.Addr()))
	if b.transfer(tok, tok+16, 1) {
		t.Fatal("transfer of a token at the maximum version succeeded")
	}
	exchange(t, a, b)
	i := b.st.Ring.find(tok)
	if e := b.st.Ring.Entries[i]; e.Owner != 2 || e.Version != top {
		t.Fatalf("b's token at the maximum version became %+v", e)
	}
	if e := b.st.Ring.Entries[i+1]; e.Owner != 1 || e.Version != 2 {
		t.Fatalf("donation inside it: %+v", e)
	}

	// A copy of our register at the maximum version cannot be numbered
	// past: it stays as is rather than ours wrapping below it.
	st := a.st.clone()
	forged := a.me().clone()
	forged.Version, forged.Wants, forged.WantSeq = top, nil, 0
	st.Members[1] = forged
	if err := b.MergeState(st); err != nil {
		t.Fatal(err)
	}
	if err := a.MergeState(b.st); err != nil {
		t.Fatal(err)
	}
	if m := a.me(); m.Version != top {
		t.Fatalf("our register after a copy at the maximum: %+v", m)
	}

	// Proposal numbers: an exhausted one refuses a new proposal.
	a.proposal = top
	up := map[frame.PeerName]bool{1: true}
	a.cfg.Alive = func(p frame.PeerName) bool { return up[p] }
	if _, err := a.Propose([]frame.PeerName{2}); !errors.Is(err, ErrRefused) {
		t.Fatalf("Propose with exhausted numbers: %v", err)
	}
}
