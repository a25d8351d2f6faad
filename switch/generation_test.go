package ethswitch

import (
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// The generation changes on every change of membership or owner (learn,
// move, evict, expire, forget, claim) and on nothing else (refreshes,
// Touch, Claim of an own MAC, lookups, forwarding).
func TestGeneration(t *testing.T) {
	s, clk := newTestSwitch(t, 2)
	gen := s.Generation()
	step := func(what string, changes bool, do func()) {
		t.Helper()
		do()
		g := s.Generation()
		if changed := g != gen; changed != changes {
			t.Errorf("%s: generation %d -> %d, want changed = %v", what, gen, g, changes)
		}
		gen = g
		checkInvariants(t, s)
	}
	step("learn locally", true, func() { learnAt(s, macA, self) })
	step("refresh", false, func() { clk.Advance(5 * time.Second); learnAt(s, macA, self) })
	step("learn from a peer", true, func() { learnAt(s, macX, peerB) })
	step("frame between known MACs", false, func() { one(s, true, macA, macX, 64, frame.Meta{Src: peerB}) })
	step("move to another peer", true, func() { learnAt(s, macX, peerC) })
	step("touch", false, func() { s.Touch(macX, peerC) })
	step("claim of an own MAC", false, func() { s.Claim(macA) })
	step("claim of a peer's MAC", true, func() { s.Claim(macX) })
	step("learn past the bound (evict)", true, func() { learnAt(s, macY, peerB) })
	step("forget a peer's MAC (refused)", false, func() { s.Forget(macY) })
	step("forget a peer without MACs", false, func() { s.ForgetPeer(peerD) })
	step("forget a peer", true, func() { s.ForgetPeer(peerB) })
	step("claim a new MAC", true, func() { s.Claim(macY) })
	step("forget an own MAC", true, func() { s.Forget(macY) })
	step("expire nothing", false, func() { s.Expire() })
	step("expire", true, func() { clk.Advance(time.Minute); s.Expire() })
	if st := s.Stats(); st.Entries != 0 {
		t.Errorf("table holds %d entries, want 0", st.Entries)
	}
}

// Snapshot's entries are those of the generation it returns.
func TestSnapshot(t *testing.T) {
	s, _ := newTestSwitch(t, 0)
	learnAt(s, macA, self)
	learnAt(s, macX, peerB)
	gen, entries := s.Snapshot()
	if gen != s.Generation() || len(entries) != 2 || entries[0].MAC != macA || entries[1].Peer != peerB {
		t.Errorf("Snapshot = %d, %+v; generation %d", gen, entries, s.Generation())
	}
}
