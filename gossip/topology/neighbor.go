package topology

import (
	"cmp"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// neighbor is what we know a gossip neighbour has, by slot, and the slots
// that changed since they were last checked (so that PendingFor costs
// O(changes), not O(peers)). A router keeps one per neighbour, each with
// a word per peer: a hub with a thousand neighbours in a thousand-peer
// mesh keeps a million. So what the neighbour has is kept as the number
// of our version of the entry it has (Topology.seq; 4 bytes), and only a
// version newer than ours, which it announced before we got it, as the
// version itself (other, rare and short-lived).
type neighbor struct {
	t     *Topology
	has   []uint32        // by slot: queuedBit | the seq of our entry the neighbour has, 0 if none known
	other map[int32]stamp // by slot: a version newer than ours the neighbour has
	queue []int32         // slots with queuedBit set
}

const (
	queuedBit = 1 << 31
	seqMask   = queuedBit - 1
)

func (n *neighbor) at(s int32) *uint32 {
	if int(s) >= len(n.has) {
		n.has = append(n.has, make([]uint32, int(s)+1-len(n.has))...)
	}
	return &n.has[s]
}

func (n *neighbor) enqueue(s int32) {
	if x := n.at(s); *x&queuedBit == 0 {
		*x |= queuedBit
		n.queue = append(n.queue, s)
	}
}

// covers reports whether the neighbour is known to have our entry in
// slot s or a newer version of it.
func (n *neighbor) covers(s int32) bool {
	if st, ok := n.other[s]; ok && n.t.ents[s].stamp().cmp(st) <= 0 {
		return true
	}
	return int(s) < len(n.has) && n.has[s]&seqMask == n.t.seq[s]
}

// learn records that the neighbour has version st of the entry in slot
// s; nil-safe. A version older than ours tells nothing that decides what
// to send it (ours only grows), so only ours or a newer one is kept.
func (n *neighbor) learn(s int32, st stamp) {
	if n == nil || n.t.ents[s].Name == frame.UnknownPeer {
		return
	}
	x := n.at(s)
	o, newer := n.other[s]
	switch c := st.cmp(n.t.ents[s].stamp()); {
	case newer && st.cmp(o) <= 0:
	case c == 0:
		*x = *x&queuedBit | n.t.seq[s]
		delete(n.other, s)
	case c > 0:
		if n.other == nil {
			n.other = make(map[int32]stamp)
		}
		n.other[s] = st
	}
}

// reset forgets what the neighbour has for a slot given to a new peer.
func (n *neighbor) reset(s int32) {
	x := n.at(s)
	*x &= queuedBit
	delete(n.other, s)
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
	n := &neighbor{t: t, has: make([]uint32, len(t.ents))}
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
		if t.ents[s].Name == frame.UnknownPeer || n.covers(s) {
			n.has[s] &^= queuedBit
			continue
		}
		keep = append(keep, s)
	}
	clear(n.queue[len(keep):])
	n.queue = keep
	if len(keep) == 0 && cap(keep) > 64 {
		n.queue = nil // a full sync's queue, drained: give it back
	}
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
		n.reset(s)
		if j < len(remote) && remote[j].Name == e.Name {
			n.learn(s, remote[j].stamp())
		}
		if !n.covers(s) {
			n.enqueue(s)
		}
	}
}
