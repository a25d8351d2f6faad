package ethswitch

import (
	"sync/atomic"

	"github.com/weave-switch/weave-switch/frame"
)

// maxSecondChances bounds the work of one eviction (see doc.go).
const maxSecondChances = 64

// Which list an entry is on.
const (
	onFree uint8 = iota
	onProbation
	onEstablished
)

// nilPos terminates the intrusive lists.
const nilPos int32 = -1

// entry is one MAC in the slab. seen and ref are written by frames under
// the read lock, so they are atomics; every other field changes only under
// the write lock.
type entry struct {
	seen  atomic.Int64 // ticks when last seen as a source, refreshed coarsely
	key   uint64       // macKey of the MAC
	owner frame.PeerName
	prev  int32
	next  int32
	ref   atomic.Bool // seen again since learned or since the hand passed
	list  uint8
}

// list is an intrusive doubly linked list of slab positions.
type list struct {
	head, tail int32
	n          int
}

// table is the bounded MAC table: a slab of entries, an index from MAC to
// slab position, a free stack and the two CLOCK lists. The slab starts
// with room for minTableEntries MACs and doubles, with the index, when it
// is full, up to the table's bound; only that growth allocates, at most
// log2(bound/minTableEntries) times in the table's life. Writers must
// hold the Switch's write lock; find and the entry atomics are safe under
// the read lock.
type table struct {
	idx         index
	slab        []entry // room for this many MACs so far
	max         int     // the bound
	free        []int32 // stack of unused slab positions
	probation   list
	established list
	// gen is bumped by every insert, remove and change of owner, under
	// the write lock; it may be read without a lock.
	gen atomic.Uint64
}

// minTableEntries is the room a new table has: a switch of a few
// containers never holds more.
const minTableEntries = 256

func newTable(n int) *table {
	t := &table{
		max:         n,
		probation:   list{head: nilPos, tail: nilPos},
		established: list{head: nilPos, tail: nilPos},
	}
	t.resize(min(n, minTableEntries))
	return t
}

// resize gives the table room for n MACs (n >= its room so far and at
// most its bound): a bigger slab holding the same entries at the same
// positions, their index, and the new positions on the free stack.
func (t *table) resize(n int) {
	old := len(t.slab)
	slab := make([]entry, n)
	for p := range t.slab {
		e, o := &slab[p], &t.slab[p]
		e.seen.Store(o.seen.Load())
		e.key, e.owner, e.prev, e.next, e.list = o.key, o.owner, o.prev, o.next, o.list
		e.ref.Store(o.ref.Load())
	}
	for p := old; p < n; p++ {
		slab[p].prev, slab[p].next = nilPos, nilPos
	}
	idx := newIndex(n)
	for _, l := range [...]*list{&t.probation, &t.established} {
		for p := l.head; p != nilPos; p = slab[p].next {
			idx.insert(slab[p].key, p)
		}
	}
	free := make([]int32, len(t.free), n)
	copy(free, t.free)
	for p := n - 1; p >= old; p-- {
		free = append(free, int32(p)) // pop order old, old+1, ...
	}
	t.slab, t.idx, t.free = slab, idx, free
}

// len returns the number of MACs in the table.
func (t *table) len() int { return t.probation.n + t.established.n }

// find returns the entry for key, or nil.
func (t *table) find(key uint64) *entry {
	if p := t.idx.find(key); p >= 0 {
		return &t.slab[p]
	}
	return nil
}

// touch records that e was seen as a source at now: it sets the
// referenced bit and refreshes the timestamp if it is at least refresh
// old. It needs only the read lock; a lost CAS means another frame
// refreshed it.
func (e *entry) touch(now, refresh int64) {
	if !e.ref.Load() {
		e.ref.Store(true)
	}
	if old := e.seen.Load(); now-old >= refresh {
		e.seen.CompareAndSwap(old, now)
	}
}

// insert adds key, which must be absent, owned by owner and seen at now,
// evicting one entry first if the table is full. It reports whether it
// evicted.
func (t *table) insert(key uint64, owner frame.PeerName, now int64) (evicted bool) {
	if len(t.free) == 0 {
		if n := len(t.slab); n < t.max {
			t.resize(min(2*n, t.max))
		} else {
			t.evict()
			evicted = true
		}
	}
	p := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	e := &t.slab[p]
	e.key, e.owner = key, owner
	e.seen.Store(now)
	e.ref.Store(false)
	t.idx.insert(key, p)
	t.pushBack(&t.probation, p, onProbation)
	t.gen.Add(1)
	return evicted
}

// setOwner moves e to owner, seen at now, and marks it referenced.
func (t *table) setOwner(e *entry, owner frame.PeerName, now int64) {
	if e.owner != owner {
		e.owner = owner
		t.gen.Add(1)
	}
	e.seen.Store(now)
	e.ref.Store(true)
}

// evict removes one entry chosen by the two-list CLOCK described in doc.go.
// The table must not be empty.
func (t *table) evict() {
	for chances := 0; ; chances++ {
		l := &t.probation
		if l.n == 0 {
			l = &t.established
		}
		p := l.head
		e := &t.slab[p]
		if chances < maxSecondChances && e.ref.Load() {
			e.ref.Store(false)
			t.unlink(p)
			t.pushBack(&t.established, p, onEstablished)
			continue
		}
		t.remove(p)
		return
	}
}

// remove deletes the entry at slab position p.
func (t *table) remove(p int32) {
	e := &t.slab[p]
	t.idx.remove(e.key)
	t.unlink(p)
	e.key, e.owner = 0, frame.UnknownPeer
	e.seen.Store(0)
	e.ref.Store(false)
	t.free = append(t.free, p) // within capacity: never allocates
	t.gen.Add(1)
}

// listOf returns the list an in-use entry is on.
func (t *table) listOf(e *entry) *list {
	if e.list == onEstablished {
		return &t.established
	}
	return &t.probation
}

func (t *table) pushBack(l *list, p int32, which uint8) {
	e := &t.slab[p]
	e.list, e.prev, e.next = which, l.tail, nilPos
	if l.tail == nilPos {
		l.head = p
	} else {
		t.slab[l.tail].next = p
	}
	l.tail = p
	l.n++
}

func (t *table) unlink(p int32) {
	e := &t.slab[p]
	l := t.listOf(e)
	if e.prev == nilPos {
		l.head = e.next
	} else {
		t.slab[e.prev].next = e.next
	}
	if e.next == nilPos {
		l.tail = e.prev
	} else {
		t.slab[e.next].prev = e.prev
	}
	e.prev, e.next, e.list = nilPos, nilPos, onFree
	l.n--
}

// removeIf deletes every entry for which drop returns true and returns how
// many it deleted. It walks both lists, O(len).
func (t *table) removeIf(drop func(e *entry) bool) int {
	n := 0
	for _, l := range [...]*list{&t.probation, &t.established} {
		for p := l.head; p != nilPos; {
			next := t.slab[p].next
			if drop(&t.slab[p]) {
				t.remove(p)
				n++
			}
			p = next
		}
	}
	return n
}
