package vxlan

import (
	"bytes"
	"cmp"
	"net/netip"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
)

// Want is one MAC to send over the vxlan device.
type Want struct {
	Kind string // kernel.KindMAC or kernel.KindHeartbeat
	Peer frame.PeerName
	Dst  netip.Addr // the peer's underlay address
}

// Spec is the desired state of the vxlan port: MAC -> where it goes.
type Spec map[frame.MAC]Want

// Desired computes the Spec of v. It is pure.
func Desired(v *kernel.View) Spec {
	s := Spec{}
	if v == nil {
		return s
	}
	for p, l := range v.Links {
		if l.State == kernel.LinkOff || !l.Addr.IsValid() || p == v.Self {
			continue
		}
		s[kernel.HeartbeatMAC(p)] = Want{Kind: kernel.KindHeartbeat, Peer: p, Dst: l.Addr}
	}
	for m := range v.MACs {
		if m.IsMulticast() || m.IsZero() {
			continue
		}
		p, l, ok := v.Offloaded(m)
		if !ok {
			continue
		}
		if _, taken := s[m]; taken {
			continue // a heartbeat MAC: never a container's
		}
		s[m] = Want{Kind: kernel.KindMAC, Peer: p, Dst: l.Addr}
	}
	return s
}

// Plan is what to change in the kernel to go from what it has to a Spec.
type Plan struct {
	// DelBridge and DelVXLAN are entries to remove, bridge first.
	DelBridge, DelVXLAN []frame.MAC
	// SetVXLAN are vxlan entries to add or re-point; AddBridge bridge
	// entries to add (after the vxlan entries).
	SetVXLAN  []frame.MAC
	AddBridge []frame.MAC
}

// Empty reports whether p changes nothing.
func (p Plan) Empty() bool {
	return len(p.DelBridge)+len(p.DelVXLAN)+len(p.SetVXLAN)+len(p.AddBridge) == 0
}

// Current is what the kernel has on the vxlan port.
type Current struct {
	Bridge map[frame.MAC]bool       // static master entries
	VXLAN  map[frame.MAC]netip.Addr // self entries and their destination
}

// Reconcile computes the Plan from cur to want. It is pure.
func Reconcile(cur Current, want Spec) Plan {
	var p Plan
	for m := range cur.Bridge {
		if _, ok := want[m]; !ok {
			p.DelBridge = append(p.DelBridge, m)
		}
	}
	for m := range cur.VXLAN {
		if _, ok := want[m]; !ok {
			p.DelVXLAN = append(p.DelVXLAN, m)
		}
	}
	for m, w := range want {
		if dst, ok := cur.VXLAN[m]; !ok || dst != w.Dst {
			p.SetVXLAN = append(p.SetVXLAN, m)
		}
		if !cur.Bridge[m] {
			p.AddBridge = append(p.AddBridge, m)
		}
	}
	for _, s := range [][]frame.MAC{p.DelBridge, p.DelVXLAN, p.SetVXLAN, p.AddBridge} {
		slices.SortFunc(s, func(a, b frame.MAC) int { return bytes.Compare(a[:], b[:]) })
	}
	return p
}

// Entries lists s for status, by peer then MAC.
func (s Spec) Entries() []kernel.Entry {
	out := make([]kernel.Entry, 0, len(s))
	for m, w := range s {
		out = append(out, kernel.Entry{Kind: w.Kind, MAC: m, Peer: w.Peer, Addr: w.Dst})
	}
	slices.SortFunc(out, func(a, b kernel.Entry) int {
		if c := cmp.Compare(a.Peer, b.Peer); c != 0 {
			return c
		}
		return bytes.Compare(a.MAC[:], b.MAC[:])
	})
	return out
}
