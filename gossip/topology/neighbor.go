package topology

import (
	"cmp"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// neighbor is what we know a gossip neighbour has, by slot, and the slots
// that changed since they were last checked (so that PendingFor costs
// O(changes), not O(peers)).
type neighbor struct {
	slots []nbSlot
	queue []int32 // slots with queued set
}

type nbSlot struct {
	st     stamp // the newest version the neighbour is known to have
	known  bool  // st is meaningful
	queued bool  // in queue
}

func (n *neighbor) at(s int32) *nbSlot {
	if int(s) >= len(n.slots) {
		n.slots = append(n.slots, make([]nbSlot, int(s)+1-len(n.slots))...)
	}
	return &n.slots[s]
}

func (n *neighbor) enqueue(s int32) {
	if x := n.at(s); !x.queued {
		x.queued = true
		n.queue = append(n.queue, s)
	}
}

// learn records that the neighbour has st for slot s; nil-safe.
func (n *neighbor) learn(s int32, st stamp) {
	if n == nil {
		return
	}
	if x := n.at(s); !x.known || st.cmp(x.st) > 0 {
		x.st, x.known = st, true
	}
}

// reset forgets what the neighbour has for a slot given to a new peer.
func (n *neighbor) reset(s int32) {
	x := n.at(s)
	x.st, x.known = stamp{}, false
}

// AddNeighbor starts tracking gossip neighbour nb, assuming it has
// nothing: PendingFor(nb) then returns every entry (a full sync, as on a
// new connection). To send only what nb lacks, exchange digests first and
// call KnownBy. A repeated AddNeighbor resets what nb is known to have.
// Adding ourselves is ignored.
func (t *Topology) AddNeighbor(nb frame.PeerName) {
	if nb == t.self || nb == frame.UnknownPeer {
		return
	}
	n := &neighbor{slots: make([]nbSlot, len(t.ents))}
	for _, s := range t.sorted() {
		n.enqueue(s)
	}
	t.nbrs[nb] = n
}

// RemoveNeighbor stops tracking nb (its connection closed).
func (t *Topology) RemoveNeighbor(nb frame.PeerName) { delete(t.nbrs, nb) }

// Neighbors returns the tracked gossip neighbours in ascending order.
func (t *Topology) Neighbors() []frame.PeerName {
	out := make([]frame.PeerName, 0, len(t.nbrs))
	for nb := range t.nbrs {
		out = append(out, nb)
	}
	slices.Sort(out)
	return out
}

// PendingFor returns, in ascending Name order, the entries newer than what
// neighbour nb is known to have: the delta to gossip to it. It costs
// O(entries changed since the last call), not O(peers). Nothing is marked
// as sent: call Sent once the entries are handed to the connection. It
// returns nil for an unknown neighbour. The entries are read-only.
func (t *Topology) PendingFor(nb frame.PeerName) []Entry {
	n := t.nbrs[nb]
	if n == nil {
		return nil
	}
	t.prune(n)
	if len(n.queue) == 0 {
		return nil
	}
	out := make([]Entry, 0, len(n.queue))
	for _, s := range n.queue {
		out = append(out, t.ents[s])
	}
	slices.SortFunc(out, func(a, b Entry) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

// HasPending reports whether PendingFor would return entries for some
// neighbour. It drops from the neighbours' queues what they are known to
// have (as PendingFor does), so that calling it again costs
// O(neighbours) until something changes.
func (t *Topology) HasPending() bool {
	pending := false
	for _, n := range t.nbrs {
		t.prune(n)
		pending = pending || len(n.queue) > 0
	}
	return pending
}

// prune drops from n's queue the entries n is known to have and those
// that are gone.
func (t *Topology) prune(n *neighbor) {
	keep := n.queue[:0]
	for _, s := range n.queue {
		x := &n.slots[s]
		e := &t.ents[s]
		if e.Name == frame.UnknownPeer || x.known && e.stamp().cmp(x.st) <= 0 {
			x.queued = false
			continue
		}
		keep = append(keep, s)
	}
	clear(n.queue[len(keep):])
	n.queue = keep
}

// Sent records that neighbour nb now has entries (we sent them, or it
// told us). Entries about unknown peers are ignored.
func (t *Topology) Sent(nb frame.PeerName, entries []Entry) {
	n := t.nbrs[nb]
	if n == nil {
		return
	}
	for i := range entries {
		if s, ok := t.slot[entries[i].Name]; ok {
			n.learn(s, entries[i].stamp())
		}
	}
}

// KnownBy replaces what neighbour nb is known to have with its digest
// remote (anti-entropy: this also undoes Sent for messages that were
// lost), so that PendingFor(nb) returns exactly what nb lacks.
func (t *Topology) KnownBy(nb frame.PeerName, remote []DigestItem) {
	n := t.nbrs[nb]
	if n == nil {
		return
	}
	remote = canonicalDigest(remote)
	j := 0
	for _, s := range t.sorted() {
		e := &t.ents[s]
		for j < len(remote) && remote[j].Name < e.Name {
			j++
		}
		x := n.at(s)
		x.st, x.known = stamp{}, false
		if j < len(remote) && remote[j].Name == e.Name {
			x.st, x.known = remote[j].stamp(), true
		}
		if !x.known || e.stamp().cmp(x.st) > 0 {
			n.enqueue(s)
		}
	}
}
