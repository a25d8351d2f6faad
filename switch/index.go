package ethswitch

import (
	"hash/maphash"
	"math/bits"

	"github.com/weave-switch/weave-switch/frame"
)

// macKey packs a MAC into the low 48 bits of a uint64.
func macKey(m frame.MAC) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 |
		uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// keyMAC is the inverse of macKey.
func keyMAC(k uint64) frame.MAC {
	return frame.MAC{byte(k >> 40), byte(k >> 32), byte(k >> 24), byte(k >> 16), byte(k >> 8), byte(k)}
}

// index maps MAC keys to slab positions. It is an open-addressing hash
// table with linear probing and backward-shift deletion (no tombstones), at
// most half full, allocated once: lookups, inserts and removals never
// allocate and always terminate. It is not safe for concurrent writes; the
// Switch's RWMutex guards it.
type index struct {
	slots []islot
	mask  uint32
	seed  maphash.Seed
}

// islot is one index slot. pos is the slab position plus one, so the zero
// slot is empty; home caches hash(key)&mask for deletion.
type islot struct {
	key  uint64
	pos  int32
	home uint32
}

// newIndex returns an index with room for n keys at load factor <= 1/2.
func newIndex(n int) index {
	size := 1 << bits.Len(uint(max(2*n-1, 7))) // next power of two >= 2n, at least 8
	return index{
		slots: make([]islot, size),
		mask:  uint32(size - 1),
		seed:  maphash.MakeSeed(),
	}
}

// home returns the slot where k's probe sequence starts.
func (x *index) home(k uint64) uint32 {
	return uint32(maphash.Comparable(x.seed, k)) & x.mask
}

// find returns the slab position of k, or -1.
func (x *index) find(k uint64) int32 {
	for i := x.home(k); ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.pos == 0 {
			return -1
		}
		if s.key == k {
			return s.pos - 1
		}
	}
}

// insert adds k at slab position pos. k must be absent and the index must
// hold fewer keys than the n it was sized for.
func (x *index) insert(k uint64, pos int32) {
	h := x.home(k)
	i := h
	for x.slots[i].pos != 0 {
		i = (i + 1) & x.mask
	}
	x.slots[i] = islot{key: k, pos: pos + 1, home: h}
}

// remove deletes k, which must be present, and shifts later members of its
// probe run back so that no tombstone is left.
func (x *index) remove(k uint64) {
	i := x.home(k)
	for x.slots[i].key != k || x.slots[i].pos == 0 {
		i = (i + 1) & x.mask
	}
	for j := (i + 1) & x.mask; x.slots[j].pos != 0; j = (j + 1) & x.mask {
		// The entry at j may move to the hole at i only if its home is not
		// cyclically within (i, j]: otherwise it would become unreachable.
		if (j-x.slots[j].home)&x.mask >= (j-i)&x.mask {
			x.slots[i] = x.slots[j]
			i = j
		}
	}
	x.slots[i] = islot{}
}
