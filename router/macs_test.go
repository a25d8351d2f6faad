package router

import (
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// The MAC table methods reach the switch core, and the generation follows
// the table's membership.
func TestMACTable(t *testing.T) {
	nameA, nameB := frame.PeerName(0x020000000001), frame.PeerName(0x020000000002)
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: memory.NewNetwork().NewTransport(nameA, netip.MustParseAddrPort("192.0.2.1:6783"))})
	if err != nil {
		t.Fatal(err)
	}
	m := frame.MAC{0x02, 0xaa, 0, 0, 0, 1}
	gen := r.MACGeneration()
	if r.ClaimMAC(m) {
		t.Error("ClaimMAC of a new MAC reports a move")
	}
	g, entries := r.MACTable()
	if g == gen || g != r.MACGeneration() || len(entries) != 1 || entries[0].MAC != m || entries[0].Peer != nameA {
		t.Errorf("after ClaimMAC: generation %d -> %d, entries %+v", gen, g, entries)
	}
	if !r.TouchMAC(m, nameA) || r.TouchMAC(m, nameB) || r.MACGeneration() != g {
		t.Error("TouchMAC: wrong answer, or it changed the generation")
	}
	if !r.ForgetMAC(m) || r.MACGeneration() == g {
		t.Error("ForgetMAC did not remove the MAC or left the generation")
	}
	if s := r.SwitchStats(); s.Entries != 0 || s.Learned != 1 || s.Forgotten != 1 {
		t.Errorf("SwitchStats = %+v", s)
	}
}
