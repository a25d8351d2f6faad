package vxlan

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
)

var (
	self = frame.PeerName(0xa)
	pB   = frame.PeerName(0xb)
	pC   = frame.PeerName(0xc)
	pD   = frame.PeerName(0xd)
	m1   = frame.MAC{2, 0, 0, 0, 0, 1}
	m2   = frame.MAC{2, 0, 0, 0, 0, 2}
	m3   = frame.MAC{2, 0, 0, 0, 0, 3}
	m4   = frame.MAC{2, 0, 0, 0, 0, 4}
	ipB  = netip.MustParseAddr("192.0.2.2")
	ipC  = netip.MustParseAddr("192.0.2.3")
)

var addrEq = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestDesired(t *testing.T) {
	v := &kernel.View{Self: self,
		Links: map[frame.PeerName]kernel.Link{
			pB: {Addr: ipB, State: kernel.LinkUp},
			pC: {Addr: ipC, State: kernel.LinkProbe},
			pD: {State: kernel.LinkOff},
		},
		MACs: map[frame.MAC]frame.PeerName{
			m1:              pB, // offloaded
			m2:              pC, // link only probing: userspace
			m3:              self,
			m4:              frame.PeerName(0xe), // not a neighbour (relayed): userspace
			frame.Broadcast: pB,
		},
	}
	want := Spec{
		kernel.HeartbeatMAC(pB): {Kind: kernel.KindHeartbeat, Peer: pB, Dst: ipB},
		kernel.HeartbeatMAC(pC): {Kind: kernel.KindHeartbeat, Peer: pC, Dst: ipC},
		m1:                      {Kind: kernel.KindMAC, Peer: pB, Dst: ipB},
	}
	if d := cmp.Diff(want, Desired(v), addrEq); d != "" {
		t.Errorf("Desired (-want +got):\n%s", d)
	}
	if len(Desired(nil)) != 0 {
		t.Error("Desired(nil) not empty")
	}
	// The link falls back: only its heartbeat stays.
	v.Links[pB] = kernel.Link{Addr: ipB, State: kernel.LinkProbe}
	got := Desired(v)
	if _, ok := got[m1]; ok || len(got) != 2 {
		t.Errorf("after fallback: %v", got)
	}
	// The MAC moves to C, which comes up: it follows.
	v.Links[pC] = kernel.Link{Addr: ipC, State: kernel.LinkUp}
	v.MACs[m1] = pC
	if w := Desired(v)[m1]; w.Peer != pC || w.Dst != ipC {
		t.Errorf("after move: %+v", w)
	}
}

func TestReconcile(t *testing.T) {
	want := Spec{
		m1: {Kind: kernel.KindMAC, Peer: pB, Dst: ipB},
		m2: {Kind: kernel.KindMAC, Peer: pC, Dst: ipC},
		m3: {Kind: kernel.KindMAC, Peer: pC, Dst: ipC},
	}
	cur := Current{
		Bridge: map[frame.MAC]bool{m1: true, m2: true, m4: true},
		VXLAN:  map[frame.MAC]netip.Addr{m1: ipB, m2: ipB, m4: ipC},
	}
	got := Reconcile(cur, want)
	exp := Plan{
		DelBridge: []frame.MAC{m4},
		DelVXLAN:  []frame.MAC{m4},
		SetVXLAN:  []frame.MAC{m2, m3}, // m2 moved to C, m3 is new
		AddBridge: []frame.MAC{m3},
	}
	if d := cmp.Diff(exp, got, addrEq); d != "" {
		t.Errorf("Reconcile (-want +got):\n%s", d)
	}
	// Applying the plan leads to an empty plan.
	done := Current{Bridge: map[frame.MAC]bool{}, VXLAN: map[frame.MAC]netip.Addr{}}
	for m, w := range want {
		done.Bridge[m], done.VXLAN[m] = true, w.Dst
	}
	if p := Reconcile(done, want); !p.Empty() {
		t.Errorf("converged state gives %+v", p)
	}
	// Everything goes when nothing is wanted.
	if p := Reconcile(done, Spec{}); len(p.DelBridge) != 3 || len(p.DelVXLAN) != 3 || len(p.SetVXLAN)+len(p.AddBridge) != 0 {
		t.Errorf("empty spec gives %+v", p)
	}
}

func TestDeviceName(t *testing.T) {
	for _, in := range []string{"weave", "averyverylongbr", "br-0123456789ab"} {
		got := DeviceName(in)
		if len(got) > 15 || got[len(got)-3:] != "-vx" {
			t.Errorf("DeviceName(%q) = %q", in, got)
		}
	}
	if DeviceName("weave") != "weave-vx" {
		t.Errorf("DeviceName(weave) = %q", DeviceName("weave"))
	}
}
