package ethswitch

import (
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// A container moves here from peer B: right after Claim, its frames are
// not taken for echoes of B's (B was heard within the echo window), and
// frames from peers for it are delivered locally.
func TestClaimMovesAtOnce(t *testing.T) {
	s, clk := newTestSwitch(t, 0)
	learnAt(s, macA, peerB)
	clk.Advance(100 * time.Millisecond)
	if d, _ := one(s, false, frame.Broadcast, macA, 64, frame.Meta{}); d.Action != Drop {
		t.Fatalf("before Claim: local frame from B's MAC = %v, want Drop (echo)", d.Action)
	}
	if !s.Claim(macA) {
		t.Error("Claim of B's MAC reports no move")
	}
	if owner, _ := s.Lookup(macA); owner != self {
		t.Errorf("after Claim owner = %v, want self", owner)
	}
	if d, _ := one(s, false, frame.Broadcast, macA, 64, frame.Meta{}); d.Action != Flood {
		t.Errorf("after Claim: local broadcast from the MAC = %v, want Flood", d.Action)
	}
	if d, _ := one(s, true, macA, macX, 64, frame.Meta{Src: peerC}); d.Action != Local {
		t.Errorf("after Claim: frame from C to the MAC = %v, want Local", d.Action)
	}
	if st := s.Stats(); st.Moves != 1 {
		t.Errorf("Moves = %d, want 1", st.Moves)
	}
	checkInvariants(t, s)
}

func TestClaimNewAndMulticast(t *testing.T) {
	s, _ := newTestSwitch(t, 0)
	if s.Claim(macA) {
		t.Error("Claim of an unknown MAC reports a move")
	}
	if owner, ok := s.Lookup(macA); !ok || owner != self {
		t.Errorf("Lookup after Claim = %v, %v", owner, ok)
	}
	if s.Claim(macA) {
		t.Error("second Claim reports a move")
	}
	if s.Claim(mcast) {
		t.Error("Claim of a multicast MAC reports a move")
	}
	if _, ok := s.Lookup(mcast); ok {
		t.Error("a multicast MAC entered the table")
	}
	if st := s.Stats(); st.Entries != 1 || st.Learned != 1 {
		t.Errorf("Entries, Learned = %d, %d; want 1, 1", st.Entries, st.Learned)
	}
	checkInvariants(t, s)
}

func TestForgetOnlyLocal(t *testing.T) {
	s, _ := newTestSwitch(t, 0)
	learnAt(s, macA, self)
	learnAt(s, macX, peerB)
	if s.Forget(macX) {
		t.Error("Forget removed a MAC another peer owns")
	}
	if !s.Forget(macA) {
		t.Error("Forget did not remove a local MAC")
	}
	if s.Forget(macA) {
		t.Error("second Forget reports a removal")
	}
	if _, ok := s.Lookup(macA); ok {
		t.Error("forgotten MAC still in the table")
	}
	// Frames from peers for the forgotten MAC are now delivered and flooded
	// on, not assumed to be local.
	if d, _ := one(s, true, macA, macY, 64, frame.Meta{Src: peerC}); d.Action != LocalAndFlood {
		t.Errorf("frame for the forgotten MAC = %v, want LocalAndFlood", d.Action)
	}
	if st := s.Stats(); st.Entries != 2 || st.Forgotten != 1 {
		t.Errorf("Entries, Forgotten = %d, %d; want 2 (X and Y), 1", st.Entries, st.Forgotten)
	}
	checkInvariants(t, s)
}
