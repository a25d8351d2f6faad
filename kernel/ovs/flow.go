package ovs

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// flowKey is what a flow matches on: the ingress vport and the Ethernet
// addresses, plus, for frames that arrived over the vxlan vport, the
// tunnel's VNI and outer addresses. Everything else is wildcarded, so one
// flow carries all traffic between two MACs in one direction.
// It is comparable and used as a map key.
type flowKey struct {
	InPort   uint32
	Src, Dst frame.MAC
	// Group: match every group (multicast and broadcast) destination,
	// any source, instead of Src and Dst. Only the bridge port's drop
	// flow uses it.
	Group  bool
	Tunnel bool
	TunID  uint64
	TunSrc netip.Addr // the sending peer's underlay address
	TunDst netip.Addr // ours, as the sender addressed it
}

func (k flowKey) String() string {
	if k.Group {
		return fmt.Sprintf("in_port(%d),eth(dst=01:00:00:00:00:00/01:00:00:00:00:00)", k.InPort)
	}
	s := fmt.Sprintf("in_port(%d),eth(src=%s,dst=%s)", k.InPort, k.Src, k.Dst)
	if k.Tunnel {
		s += fmt.Sprintf(",tunnel(id=%d,src=%s,dst=%s)", k.TunID, k.TunSrc, k.TunDst)
	}
	return s
}

// flowAction is what a flow does: output to a local vport, set the
// tunnel (VNI, outer source and destination) and output to the vxlan
// vport, or drop.
type flowAction struct {
	Drop   bool
	Output uint32
	Tunnel bool
	TunID  uint64
	TunSrc netip.Addr // invalid: the kernel picks the source by route
	TunDst netip.Addr
}

func (a flowAction) String() string {
	if a.Drop {
		return "drop"
	}
	if a.Tunnel {
		src := "route"
		if a.TunSrc.IsValid() {
			src = a.TunSrc.String()
		}
		return fmt.Sprintf("set(tunnel(id=%d,src=%s,dst=%s,ttl=64,df)),output(%d)", a.TunID, src, a.TunDst, a.Output)
	}
	return fmt.Sprintf("output(%d)", a.Output)
}

// flowState is one installed flow as this package tracks it.
type flowState struct {
	Key    flowKey
	Action flowAction
	// Peer is the remote peer the flow depends on: the destination of a
	// flow into the tunnel, the sender of a flow out of it. (Traffic
	// between two local ports never reaches the datapath: the bridge
	// switches it.) UnknownPeer marks a permanent flow (the group drop):
	// never invalidated, never expired.
	Peer frame.PeerName
	// Packets is the kernel's packet count at the last sweep; Active is
	// when the sweep last saw it grow (or the flow was installed).
	Packets uint64
	Active  time.Time
}

// flowTable is the set of installed flows with the indexes that let a
// MAC move or a link change remove exactly the flows it invalidates:
// every flow is indexed under its source MAC, its destination MAC and the
// peer it depends on. Not safe for concurrent use; the Datapath guards it.
type flowTable struct {
	flows  map[flowKey]*flowState
	byMAC  map[frame.MAC]map[flowKey]struct{}
	byPeer map[frame.PeerName]map[flowKey]struct{}
}

func newFlowTable() *flowTable {
	return &flowTable{
		flows:  map[flowKey]*flowState{},
		byMAC:  map[frame.MAC]map[flowKey]struct{}{},
		byPeer: map[frame.PeerName]map[flowKey]struct{}{},
	}
}

func (t *flowTable) len() int { return len(t.flows) }

func (t *flowTable) get(k flowKey) (*flowState, bool) {
	f, ok := t.flows[k]
	return f, ok
}

// add records f, replacing any flow with the same key (and its index
// entries).
func (t *flowTable) add(f flowState) {
	t.remove(f.Key)
	t.flows[f.Key] = &f
	index(t.byMAC, f.Key.Src, f.Key)
	index(t.byMAC, f.Key.Dst, f.Key)
	index(t.byPeer, f.Peer, f.Key)
}

// remove forgets the flow with key k and reports whether there was one.
func (t *flowTable) remove(k flowKey) bool {
	f, ok := t.flows[k]
	if !ok {
		return false
	}
	delete(t.flows, k)
	unindex(t.byMAC, f.Key.Src, k)
	unindex(t.byMAC, f.Key.Dst, k)
	unindex(t.byPeer, f.Peer, k)
	return true
}

// forMAC returns the keys of the flows whose source or destination is m,
// sorted.
func (t *flowTable) forMAC(m frame.MAC) []flowKey { return sortedKeys(t.byMAC[m]) }

// forPeer returns the keys of the flows that depend on peer p, sorted.
func (t *flowTable) forPeer(p frame.PeerName) []flowKey { return sortedKeys(t.byPeer[p]) }

// all returns every flow, sorted by key.
func (t *flowTable) all() []flowState {
	out := make([]flowState, 0, len(t.flows))
	for _, f := range t.flows {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b flowState) int { return compareKeys(a.Key, b.Key) })
	return out
}

func index[K comparable](m map[K]map[flowKey]struct{}, k K, fk flowKey) {
	s := m[k]
	if s == nil {
		s = map[flowKey]struct{}{}
		m[k] = s
	}
	s[fk] = struct{}{}
}

func unindex[K comparable](m map[K]map[flowKey]struct{}, k K, fk flowKey) {
	if s := m[k]; s != nil {
		delete(s, fk)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

func sortedKeys(s map[flowKey]struct{}) []flowKey {
	out := make([]flowKey, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	slices.SortFunc(out, compareKeys)
	return out
}

func compareKeys(a, b flowKey) int {
	if c := cmp.Compare(a.InPort, b.InPort); c != 0 {
		return c
	}
	if a.Group != b.Group {
		if a.Group {
			return -1
		}
		return 1
	}
	if c := bytes.Compare(a.Src[:], b.Src[:]); c != 0 {
		return c
	}
	if c := bytes.Compare(a.Dst[:], b.Dst[:]); c != 0 {
		return c
	}
	if c := a.TunSrc.Compare(b.TunSrc); c != 0 {
		return c
	}
	if c := a.TunDst.Compare(b.TunDst); c != 0 {
		return c
	}
	return cmp.Compare(a.TunID, b.TunID)
}
