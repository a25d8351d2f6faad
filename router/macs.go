package router

import (
	"github.com/weave-switch/weave-switch/frame"
	ethswitch "github.com/weave-switch/weave-switch/switch"
)

// The MAC table of the switch core, as the rest of the router's host
// sees it: attachments claim and forget their MACs, the kernel fast path
// mirrors the table and keeps alive the entries it carries traffic for,
// the control plane forgets the MACs of peers that left, status reads the
// counters.

// ClaimMAC makes m live on this peer at once, whoever owned it before (a
// container attached here), and reports whether it moved from another
// peer (see ethswitch.Switch.Claim).
func (r *Router) ClaimMAC(m frame.MAC) (moved bool) { return r.sw.Claim(m) }

// ForgetMAC removes m if this peer owns it (a container detached here)
// and reports whether it did.
func (r *Router) ForgetMAC(m frame.MAC) bool { return r.sw.Forget(m) }

// ForgetMACs removes every MAC learned from peer p (it left, restarted or
// became unreachable) and returns how many.
func (r *Router) ForgetMACs(p frame.PeerName) int { return r.sw.ForgetPeer(p) }

// TouchMAC refreshes m, if owner owns it, for traffic carried without
// crossing the router (by the kernel fast path), and reports whether it
// did.
func (r *Router) TouchMAC(m frame.MAC, owner frame.PeerName) bool { return r.sw.Touch(m, owner) }

// MACGeneration returns a number that changes whenever a MAC joins or
// leaves the table or changes owner (see ethswitch.Switch.Generation).
// It takes no lock.
func (r *Router) MACGeneration() uint64 { return r.sw.Generation() }

// MACTable returns the MAC table, sorted by MAC, and its generation: the
// entries are exactly those of gen. It allocates and walks the table.
func (r *Router) MACTable() (gen uint64, entries []ethswitch.Entry) { return r.sw.Snapshot() }

// MACCapacity returns the MAC table's bound.
func (r *Router) MACCapacity() int {
	if r.cfg.MaxMACs == 0 {
		return ethswitch.DefaultMaxEntries
	}
	return r.cfg.MaxMACs
}

// SwitchStats returns the switch core's counters.
func (r *Router) SwitchStats() ethswitch.Stats { return r.sw.Stats() }

// MACOwners returns the MAC table as MAC -> owning peer (Self for local)
// with its generation, unless the generation is still gen.
func (r *Router) MACOwners(gen uint64) (uint64, map[frame.MAC]frame.PeerName, bool) {
	if r.sw.Generation() == gen {
		return gen, nil, false
	}
	g, entries := r.sw.Snapshot()
	owners := make(map[frame.MAC]frame.PeerName, len(entries))
	for _, e := range entries {
		owners[e.MAC] = e.Peer
	}
	return g, owners, true
}
