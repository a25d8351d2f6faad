package topology

import (
	"cmp"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// DigestItem is one line of a digest: a peer and the version of its entry.
type DigestItem struct {
	Name        frame.PeerName
	Incarnation uint64
	Version     uint64
}

func (d DigestItem) stamp() stamp { return stamp{d.Incarnation, d.Version} }

// Digest returns (name, incarnation, version) of every known entry in
// ascending Name order: about 16 bytes per peer on the wire.
func (t *Topology) Digest() []DigestItem {
	out := make([]DigestItem, 0, len(t.slot))
	for _, s := range t.sorted() {
		e := &t.ents[s]
		out = append(out, DigestItem{e.Name, e.Incarnation, e.Version})
	}
	return out
}

// Summary returns an order-independent 64-bit hash of Digest(), kept up
// to date incrementally (O(1)). Two peers whose summaries are equal hold
// the same versions of the same entries (up to hash collisions), so the
// gossip layer exchanges 8-byte summaries and sends a full digest only on
// a mismatch.
func (t *Topology) Summary() uint64 { return t.sum }

// Missing compares our entries with remote, a neighbour's digest (any
// order). theyNeed are our entries newer than theirs or unknown to them,
// in Name order: push them (and call Sent). weNeed are the names whose
// entry they have newer, or that we lack (unless tombstoned at that
// version), leaving out those Merge would refuse as too far ahead (see
// Config.MaxClockSkew): ask for them. If remote holds a newer entry about
// ourselves, we are in weNeed too: merging it makes us bump past it.
func (t *Topology) Missing(remote []DigestItem) (theyNeed []Entry, weNeed []frame.PeerName) {
	remote = canonicalDigest(remote)
	lim := t.horizon()
	ours := t.sorted()
	i, j := 0, 0
	for i < len(ours) || j < len(remote) {
		var c int
		switch {
		case i == len(ours):
			c = 1
		case j == len(remote):
			c = -1
		default:
			c = cmp.Compare(t.ents[ours[i]].Name, remote[j].Name)
		}
		switch {
		case c < 0:
			theyNeed = append(theyNeed, t.ents[ours[i]])
			i++
		case c > 0:
			r := remote[j]
			if tb, dead := t.tombs[r.Name]; r.Name != frame.UnknownPeer && r.Incarnation <= lim && (!dead || r.stamp().cmp(tb.st) > 0) {
				weNeed = append(weNeed, r.Name)
			}
			j++
		default:
			e := &t.ents[ours[i]]
			switch e.stamp().cmp(remote[j].stamp()) {
			case 1:
				theyNeed = append(theyNeed, *e)
			case -1:
				if remote[j].Incarnation <= lim {
					weNeed = append(weNeed, e.Name)
				}
			}
			i++
			j++
		}
	}
	return theyNeed, weNeed
}

// canonicalDigest returns d in strictly ascending Name order, keeping the
// newest item per name. It copies only if d is not canonical already.
func canonicalDigest(d []DigestItem) []DigestItem {
	if strictlyAscending(d) {
		return d
	}
	d = slices.Clone(d)
	slices.SortFunc(d, func(a, b DigestItem) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return -a.stamp().cmp(b.stamp()) // newest first
	})
	return slices.CompactFunc(d, func(a, b DigestItem) bool { return a.Name == b.Name })
}

func strictlyAscending(d []DigestItem) bool {
	for i := 1; i < len(d); i++ {
		if d[i].Name <= d[i-1].Name {
			return false
		}
	}
	return true
}

// itemHash mixes one digest item (splitmix64 finalizer) for Summary.
func itemHash(name frame.PeerName, st stamp) uint64 {
	return mix(mix(mix(uint64(name))^st.inc) ^ st.ver)
}

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
