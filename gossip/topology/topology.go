package topology

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Topology is one peer's view of every peer's Entry, plus, per gossip
// neighbour, which entry versions that neighbour is known to have (for
// deltas). It does no I/O and starts no goroutines. It is not safe for
// concurrent use: the gossip actor loop owns it, and hands Routes (which
// are immutable) to the data path.
type Topology struct {
	cfg   Config
	self  frame.PeerName
	slot  map[frame.PeerName]int32 // name → index in ents
	ents  []Entry                  // by slot; Name == 0 marks a free slot
	seq   []uint32                 // by slot: numbers the versions stored there (1 up, within seqMask)
	free  []int32                  // free slots
	order []int32                  // live slots in ascending name order; nil when stale
	sum   uint64                   // Summary
	stats Stats

	nbrs        map[frame.PeerName]*neighbor
	tombs       map[frame.PeerName]tomb
	unreachable map[frame.PeerName]time.Time // since when, for GC
}

const selfSlot = 0

// New returns a Topology that knows only self, our own entry (its Conns
// are sorted here). cfg may be nil for defaults. It fails if self or cfg
// is invalid.
func New(self Entry, cfg *Config) (*Topology, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	self = self.Clone()
	sortConns(self.Conns)
	if err := self.Validate(); err != nil {
		return nil, fmt.Errorf("topology: self entry: %w", err)
	}
	t := &Topology{
		cfg:         cfg.withDefaults(),
		self:        self.Name,
		slot:        make(map[frame.PeerName]int32),
		nbrs:        make(map[frame.PeerName]*neighbor),
		tombs:       make(map[frame.PeerName]tomb),
		unreachable: make(map[frame.PeerName]time.Time),
	}
	t.store(t.alloc(self.Name), self)
	return t, nil
}

// Self returns our own name.
func (t *Topology) Self() frame.PeerName { return t.self }

// SelfEntry returns our own entry (read-only).
func (t *Topology) SelfEntry() Entry { return t.ents[selfSlot] }

// Len returns the number of known peers, ourselves included.
func (t *Topology) Len() int { return len(t.slot) }

// Get returns the entry of name (read-only) and whether it is known.
func (t *Topology) Get(name frame.PeerName) (Entry, bool) {
	s, ok := t.slot[name]
	if !ok {
		return Entry{}, false
	}
	return t.ents[s], true
}

// Entries returns every known entry, ourselves included, in ascending
// Name order. The slice is new; the entries are shared and read-only.
func (t *Topology) Entries() []Entry {
	out := make([]Entry, 0, len(t.slot))
	for _, s := range t.sorted() {
		out = append(out, t.ents[s])
	}
	return out
}

// Routes computes the routes of the current topology (see Compute).
func (t *Topology) Routes() *Routes { return Compute(t.self, t.Entries()) }

// SetSelf replaces our connections and capabilities and bumps our Version
// if they changed. conns need not be sorted; neither argument is retained.
// It returns an error wrapping ErrInvalid, and changes nothing, if the
// resulting entry would be invalid.
func (t *Topology) SetSelf(conns []Conn, caps map[string]string) error {
	cur := t.ents[selfSlot]
	ne := cur
	ne.Conns = slices.Clone(conns)
	sortConns(ne.Conns)
	ne.Caps = maps.Clone(caps)
	if err := ne.Validate(); err != nil {
		return err
	}
	if slices.Equal(ne.Conns, cur.Conns) && maps.Equal(ne.Caps, cur.Caps) {
		return nil
	}
	bump(&ne, cur.stamp())
	t.store(selfSlot, ne)
	return nil
}

// bump sets e's (Incarnation, Version) to the successor of past: the
// next Version, or the next Incarnation once Version is exhausted. It
// saturates at (MaxUint64, MaxUint64), which Merge never accepts from a
// peer (no clock is that far ahead), so it takes a local clock gone wrong
// to get there.
func bump(e *Entry, past stamp) {
	switch {
	case past.ver < math.MaxUint64:
		e.Incarnation, e.Version = past.inc, past.ver+1
	case past.inc < math.MaxUint64:
		e.Incarnation, e.Version = past.inc+1, 0
	default:
		e.Incarnation, e.Version = past.inc, past.ver
	}
}

// alloc gives name a slot, reusing a free one.
func (t *Topology) alloc(name frame.PeerName) int32 {
	var s int32
	if n := len(t.free); n > 0 {
		s, t.free = t.free[n-1], t.free[:n-1]
	} else {
		s = int32(len(t.ents))
		t.ents = append(t.ents, Entry{})
		t.seq = append(t.seq, 0)
	}
	t.slot[name] = s
	t.order = nil
	for _, nb := range t.nbrs {
		nb.reset(s)
	}
	return s
}

// store installs e in slot s and queues it for every neighbour.
func (t *Topology) store(s int32, e Entry) {
	if old := &t.ents[s]; old.Name != frame.UnknownPeer {
		t.sum -= itemHash(old.Name, old.stamp())
	}
	t.ents[s] = e
	if t.seq[s] = (t.seq[s] + 1) & seqMask; t.seq[s] == 0 {
		t.seq[s] = 1 // 0 is no version
	}
	t.sum += itemHash(e.Name, e.stamp())
	for _, nb := range t.nbrs {
		nb.enqueue(s)
	}
}

// remove frees the slot of name (never ourselves).
func (t *Topology) remove(name frame.PeerName) (Entry, bool) {
	s, ok := t.slot[name]
	if !ok || s == selfSlot {
		return Entry{}, false
	}
	old := t.ents[s]
	t.sum -= itemHash(old.Name, old.stamp())
	t.ents[s] = Entry{}
	delete(t.slot, name)
	delete(t.unreachable, name)
	t.free = append(t.free, s)
	t.order = nil
	return old, true
}

// sorted returns the live slots in ascending name order (cached).
func (t *Topology) sorted() []int32 {
	if t.order == nil {
		t.order = make([]int32, 0, len(t.slot))
		for _, s := range t.slot {
			t.order = append(t.order, s)
		}
		slices.SortFunc(t.order, func(a, b int32) int { return cmp.Compare(t.ents[a].Name, t.ents[b].Name) })
	}
	return t.order
}
