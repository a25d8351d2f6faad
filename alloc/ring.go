package alloc

import (
	"hash/fnv"
	"net/netip"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// Entry is one token of the ring: the range from Token to the next
// token (or the end of the universe) belongs to Owner. Only the owner
// changes an entry, bumping Version, except a committed reclaim (see
// reclaim.go). Free is the owner's count of unallocated addresses in the
// range, a hint for peers looking for space.
type Entry struct {
	Token   uint32
	Owner   frame.PeerName
	Version uint32
	Free    uint32
}

// newer reports whether a supersedes b, for two copies of one token:
// the higher version wins, and equal versions are ordered by content so
// that every peer picks the same copy.
func (a Entry) newer(b Entry) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if a.Owner != b.Owner {
		return a.Owner > b.Owner
	}
	return a.Free > b.Free
}

// Ring is the division of the universe into owned ranges. Its identity
// is the universe and the seed peers it was created with: rings with
// different identities never merge.
type Ring struct {
	Universe netip.Prefix
	Seeds    []frame.PeerName // sorted, unique
	Entries  []Entry          // sorted by Token; Entries[0].Token is the universe's start
}

// NewRing divides universe into equal consecutive shares, one per seed in
// ascending name order. Every peer given the same universe and seeds
// builds the same ring, without talking to anyone.
func NewRing(universe netip.Prefix, seeds []frame.PeerName) *Ring {
	seeds = slices.Clone(seeds)
	slices.Sort(seeds)
	seeds = slices.Compact(seeds)
	u := prefixSpan(universe)
	r := &Ring{Universe: universe.Masked(), Seeds: seeds}
	n := uint64(len(seeds))
	for i, s := range seeds {
		lo := u.lo + u.size()*uint64(i)/n
		hi := u.lo + u.size()*uint64(i+1)/n
		r.Entries = append(r.Entries, Entry{Token: uint32(lo), Owner: s, Version: 1, Free: uint32(hi - lo)})
	}
	return r
}

// identity hashes the universe and the seeds.
func (r *Ring) identity() uint64 {
	h := fnv.New64a()
	b := r.Universe.Addr().As4()
	h.Write(b[:])
	h.Write([]byte{byte(r.Universe.Bits())})
	var nb [frame.PeerNameSize]byte
	for _, s := range r.Seeds {
		s.Put(nb[:])
		h.Write(nb[:])
	}
	return h.Sum64()
}

func (r *Ring) clone() *Ring {
	return &Ring{Universe: r.Universe, Seeds: slices.Clone(r.Seeds), Entries: slices.Clone(r.Entries)}
}

func (r *Ring) end() uint64 { return prefixSpan(r.Universe).hi }

// rangeOf is the span of entry i.
func (r *Ring) rangeOf(i int) span {
	hi := r.end()
	if i+1 < len(r.Entries) {
		hi = uint64(r.Entries[i+1].Token)
	}
	return span{uint64(r.Entries[i].Token), hi}
}

// find returns the index of the entry whose range holds a, or -1 if a is
// outside the universe.
func (r *Ring) find(a uint64) int {
	if len(r.Entries) == 0 || a < uint64(r.Entries[0].Token) || a >= r.end() {
		return -1
	}
	i, found := slices.BinarySearchFunc(r.Entries, a, func(e Entry, a uint64) int {
		switch {
		case uint64(e.Token) < a:
			return -1
		case uint64(e.Token) > a:
			return 1
		}
		return 0
	})
	if found {
		return i
	}
	return i - 1
}

// Owner returns the peer owning address a (UnknownPeer outside the ring).
func (r *Ring) Owner(a netip.Addr) frame.PeerName {
	if !a.Is4() {
		return frame.UnknownPeer
	}
	if i := r.find(uint64(addrToU32(a))); i >= 0 {
		return r.Entries[i].Owner
	}
	return frame.UnknownPeer
}

// split makes a token at a (inside the universe), owned like the range it
// cuts, and returns its index. A new token starts at version 1: only the
// owner of the range can cut it, so no other copy of the token exists.
func (r *Ring) split(a uint64) int {
	i := r.find(a)
	if uint64(r.Entries[i].Token) == a {
		return i
	}
	e := Entry{Token: uint32(a), Owner: r.Entries[i].Owner, Version: 1}
	r.Entries = slices.Insert(r.Entries, i+1, e)
	return i + 1
}

// merge folds o (same identity) into r, one token at a time: a union of
// tokens where the newer copy of each wins. It reports whether r changed.
func (r *Ring) merge(o *Ring) bool {
	changed := false
	out := make([]Entry, 0, max(len(r.Entries), len(o.Entries)))
	i, j := 0, 0
	for i < len(r.Entries) || j < len(o.Entries) {
		switch {
		case j == len(o.Entries) || i < len(r.Entries) && r.Entries[i].Token < o.Entries[j].Token:
			out = append(out, r.Entries[i])
			i++
		case i == len(r.Entries) || o.Entries[j].Token < r.Entries[i].Token:
			out = append(out, o.Entries[j])
			changed = true
			j++
		default:
			e := r.Entries[i]
			if o.Entries[j].newer(e) {
				e = o.Entries[j]
				changed = true
			}
			out = append(out, e)
			i++
			j++
		}
	}
	if changed {
		r.Entries = out
	}
	return changed
}

// ownedSpans calls fn for each range owned by p, in address order, with
// the entry index; fn returns false to stop.
func (r *Ring) ownedSpans(p frame.PeerName, fn func(i int, s span) bool) {
	for i := range r.Entries {
		if r.Entries[i].Owner == p && !fn(i, r.rangeOf(i)) {
			return
		}
	}
}
