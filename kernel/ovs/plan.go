package ovs

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/vxlan"
)

// ports are the datapath's vport numbers and the tunnel parameters: what
// turning a decision into a flow needs to know about the datapath.
type ports struct {
	Bridge uint32 // the netdev vport of the veth into the Linux bridge
	VXLAN  uint32 // the vxlan vport
	VNI    uint64
	Local  netip.Addr // outer source; invalid: the kernel picks by route
}

// Verdicts of classify and plan that install nothing, for the counters.
type verdict uint8

const (
	vInstall   verdict = iota
	vUserspace         // the Decider said userspace: broadcast, unknown, link not up
	vStranger          // from a tunnel address or VNI that is no LinkUp/LinkProbe peer
	vForeign           // an in_port that is neither of ours, or nonsense (a relay)
)

// classify says where a missed frame came from: the bridge (from ==
// UnknownPeer) or the peer whose underlay address sent it over the vxlan
// vport. addrs maps the underlay addresses of the links that are not
// LinkOff to their peers.
func classify(u upcall, p ports, addrs map[netip.Addr]frame.PeerName) (from frame.PeerName, v verdict) {
	switch {
	case u.InPort == p.Bridge && !u.Tunnel:
		return frame.UnknownPeer, vInstall
	case u.InPort == p.VXLAN && u.Tunnel:
		if u.TunID != p.VNI {
			return frame.UnknownPeer, vStranger
		}
		peer, ok := addrs[u.TunSrc]
		if !ok {
			return frame.UnknownPeer, vStranger
		}
		return peer, vInstall
	}
	return frame.UnknownPeer, vForeign
}

// plan turns a miss, where it came from and the Decider's answer into the
// flow to install: frames from the bridge go into the tunnel to the
// decided peer, frames from a peer's tunnel go to the bridge. Anything
// else installs nothing. It is pure.
func plan(u upcall, from frame.PeerName, d kernel.Decision, p ports, now time.Time) (flowState, verdict) {
	k := flowKey{InPort: u.InPort, Src: u.Src, Dst: u.Dst}
	switch d.Action {
	case kernel.Remote:
		if from != frame.UnknownPeer || !d.Addr.Unmap().Is4() || d.Peer == frame.UnknownPeer {
			return flowState{}, vForeign // the fast path never relays
		}
		a := flowAction{Output: p.VXLAN, Tunnel: true, TunID: p.VNI, TunSrc: p.Local, TunDst: d.Addr.Unmap()}
		return flowState{Key: k, Action: a, Peer: d.Peer, Active: now}, vInstall
	case kernel.Local:
		if from == frame.UnknownPeer {
			return flowState{}, vForeign // bridge to bridge: the bridge's job
		}
		k.Tunnel, k.TunID, k.TunSrc, k.TunDst = true, u.TunID, u.TunSrc, u.TunDst
		return flowState{Key: k, Action: flowAction{Output: p.Bridge}, Peer: from, Active: now}, vInstall
	}
	return flowState{}, vUserspace
}

// invalidated returns, sorted, the flows that going from View old to cur
// makes wrong: those whose source or destination MAC moved to another
// peer or was forgotten, and those that depend on a peer whose link is
// gone, off, at another address, or in a worse state than before. It is
// pure.
func invalidated(old, cur *kernel.View, t *flowTable) []flowKey {
	set := map[flowKey]struct{}{}
	ch := kernel.Diff(old, cur)
	for _, ms := range [][]frame.MAC{ch.Moved, ch.Forgotten} {
		for _, m := range ms {
			for _, k := range t.forMAC(m) {
				set[k] = struct{}{}
			}
		}
	}
	for p := range t.byPeer {
		if p == frame.UnknownPeer {
			continue // permanent flows
		}
		var nl, ol kernel.Link
		var ok, had bool
		if cur != nil {
			nl, ok = cur.Links[p]
		}
		if old != nil {
			ol, had = old.Links[p]
		}
		if !ok || nl.State == kernel.LinkOff || (had && (nl.Addr != ol.Addr || nl.State < ol.State)) {
			for _, k := range t.forPeer(p) {
				set[k] = struct{}{}
			}
		}
	}
	out := make([]flowKey, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// fdbDeletes returns, sorted, the static bridge entries in cur that want
// does not have.
func fdbDeletes(cur map[frame.MAC]bool, want vxlan.Spec) []frame.MAC {
	var out []frame.MAC
	for m := range cur {
		if _, ok := want[m]; !ok {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b frame.MAC) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// fdbAdds returns, sorted, the entries of want missing from cur.
func fdbAdds(cur map[frame.MAC]bool, want vxlan.Spec) []frame.MAC {
	var out []frame.MAC
	for m := range want {
		if !cur[m] {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b frame.MAC) int { return bytes.Compare(a[:], b[:]) })
	return out
}
