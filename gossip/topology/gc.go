package topology

import (
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// tomb remembers a removed peer's last version, so that stale copies of
// its entry still circulating in gossip do not bring it back.
type tomb struct {
	st stamp
	at time.Time
}

// GC removes the peers that have been unreachable from us for at least
// Config.GCGrace and returns them in ascending order; callers purge their
// state (MACs, IPAM claims) as for a restart. A peer is reachable if we
// can get to it by following, from ourselves, connections that the peer
// at hand lists as established; our gossip neighbours and the peers our
// own entry lists (established or not) are always reachable. The grace
// period runs from the first GC call that found the peer unreachable, so
// call GC every few seconds (for example whenever routes are recomputed).
// GC also expires tombstones older than Config.TombstoneTTL.
func (t *Topology) GC(now time.Time) []frame.PeerName {
	for name, tb := range t.tombs {
		if now.Sub(tb.at) >= t.cfg.TombstoneTTL {
			delete(t.tombs, name)
		}
	}
	reach := t.reachable()
	var gone []frame.PeerName
	for name, s := range t.slot {
		if reach[s] {
			delete(t.unreachable, name)
			continue
		}
		since, ok := t.unreachable[name]
		if !ok {
			t.unreachable[name] = now
		} else if now.Sub(since) >= t.cfg.GCGrace {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	for _, name := range gone {
		t.bury(name, now)
	}
	return gone
}

// Forget removes name at once (operator "rmpeer"), leaving a tombstone,
// and reports whether it was known. We cannot forget ourselves. A newer
// entry from the peer (it is alive and changes) brings it back.
func (t *Topology) Forget(name frame.PeerName) bool {
	return t.bury(name, t.cfg.Now())
}

func (t *Topology) bury(name frame.PeerName, now time.Time) bool {
	old, ok := t.remove(name)
	if ok {
		t.tombs[name] = tomb{old.stamp(), now}
	}
	return ok
}

// reachable marks, by slot, the peers GC must keep.
func (t *Topology) reachable() []bool {
	reach := make([]bool, len(t.ents))
	queue := make([]int32, 0, len(t.slot))
	mark := func(p frame.PeerName) {
		if s, ok := t.slot[p]; ok && !reach[s] {
			reach[s] = true
			queue = append(queue, s)
		}
	}
	mark(t.self)
	for nb := range t.nbrs {
		mark(nb)
	}
	for _, c := range t.ents[selfSlot].Conns {
		mark(c.Peer)
	}
	for i := 0; i < len(queue); i++ {
		for _, c := range t.ents[queue[i]].Conns {
			if c.Established {
				mark(c.Peer)
			}
		}
	}
	return reach
}
