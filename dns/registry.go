package dns

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// ManualKey is the key of the entries dns-add registers.
const ManualKey = "dns-add"

// Defaults of the registry's timing.
const (
	// DefaultMaxClockSkew: GossipMerge refuses registers stamped further
	// ahead of our clock.
	DefaultMaxClockSkew = time.Hour
	// DefaultGoneAfter: a peer not alive for this long has its entries
	// dropped (a tombstone replaces them).
	DefaultGoneAfter = 30 * time.Second
	// DefaultTombstoneTTL: a tombstone expires this long after this
	// replica stored it.
	DefaultTombstoneTTL = time.Hour
)

// MaxStateBytes bounds the encoded state, so that it always fits one
// mesh channel message with room to spare.
const MaxStateBytes = 768 << 10

// MaxRegisterBytes bounds one router's encoded register.
const MaxRegisterBytes = 64 << 10

// ErrFull is returned by a local change that would take this router's
// register past MaxEntriesPerPeer or MaxRegisterBytes, or the state past
// MaxStateBytes.
var ErrFull = errors.New("dns: too many names on this router")

// Liveness is what the registry needs of the mesh: whether a peer shows
// signs of life now. *mesh.Mesh has it.
type Liveness interface {
	Alive(frame.PeerName) bool
}

// RegistryStats counts what GossipMerge refused, by reason, and the
// copies of our own register it saw. The counters saturate.
type RegistryStats struct {
	// Ahead: a register stamped more than MaxClockSkew past our clock.
	Ahead uint64
	// Full: a register that would take the state past MaxOwners or
	// MaxStateBytes, or one past MaxRegisterBytes.
	Full uint64
	// Alive: a tombstone of a peer that is alive here.
	Alive uint64
	// Malformed: a state that did not decode.
	Malformed uint64
	// Superseded: a copy of our own register at or past our stamp (an
	// earlier run's, or forged); ours was stamped past it.
	Superseded uint64
}

// Registry is the mesh-wide name registry: a state-based CRDT of one
// register per router (all its entries at a stamp; the greater stamp
// wins whole, a tombstone winning a tie, then the greater encoding), so
// that every router ends with the same registers whatever order gossip
// arrives in. Only a router changes its own register; it stamps each
// change past the last with its clock (milliseconds since the Unix
// epoch), so that a restart that lost its state still outbids the copies
// its peers hold.
//
// Ownership holds against forged gossip as far as the mesh lets it: a
// register claiming to be ours at or past our stamp makes us stamp ours
// past it again at once (so it lives only for a round of gossip); a
// register stamped more than MaxClockSkew past our clock is refused (no
// stamp can be forged into permanence); a tombstone of a peer alive here
// is refused. Registers of peers gone for GoneAfter become tombstones,
// and tombstones expire TombstoneTTL after this replica stored them; a
// copy of an expired tombstone is not taken again.
//
// It is safe for concurrent use. Lookups read an immutable index that
// every change swaps in.
type Registry struct {
	self frame.PeerName
	// Now is the clock; if nil, time.Now. MaxClockSkew, GoneAfter and
	// TombstoneTTL: if zero, the defaults. Set them before use.
	Now          func() time.Time
	MaxClockSkew time.Duration
	GoneAfter    time.Duration
	TombstoneTTL time.Duration
	// Save, if set, persists the encoded state; a local change whose
	// Save fails is undone and returns the error.
	Save func(state []byte) error

	updated chan struct{}
	changed chan struct{}
	live    atomic.Pointer[Liveness]
	idx     atomic.Pointer[index]

	mu        sync.Mutex
	regs      map[frame.PeerName]*held
	deadSince map[frame.PeerName]time.Time
	size      int    // encoded size of the state
	expired   uint64 // the greatest stamp of a tombstone expired here
	cache     []byte // encoded state, nil when stale
	dirty     bool   // changed since the last Save
	stats     RegistryStats
}

// held is a register as this replica stores it.
type held struct {
	Register
	size int       // encoded size
	at   time.Time // when stored (tombstones expire by it)
}

// NewRegistry returns a registry for router self, holding an empty
// register of its own.
func NewRegistry(self frame.PeerName) *Registry {
	r := &Registry{self: self, updated: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		regs: map[frame.PeerName]*held{}, deadSince: map[frame.PeerName]time.Time{}}
	r.mu.Lock()
	r.putLocked(&Register{Owner: self, Stamp: r.stampMs()}, time.Time{})
	r.reindexLocked()
	r.mu.Unlock()
	return r
}

// SetLiveness tells the registry about the mesh. Until it is set, no peer
// is swept as gone.
func (r *Registry) SetLiveness(l Liveness) { r.live.Store(&l) }

func (r *Registry) alive(p frame.PeerName) (alive, known bool) {
	l := r.live.Load()
	if l == nil {
		return false, false
	}
	return (*l).Alive(p), true
}

func (r *Registry) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Registry) stampMs() uint64 {
	ms := r.now().UnixMilli()
	return uint64(max(ms, 0))
}

func (r *Registry) skew() time.Duration { return cmp.Or(r.MaxClockSkew, DefaultMaxClockSkew) }
func (r *Registry) gone() time.Duration { return cmp.Or(r.GoneAfter, DefaultGoneAfter) }
func (r *Registry) ttl() time.Duration  { return cmp.Or(r.TombstoneTTL, DefaultTombstoneTTL) }
func (r *Registry) signalLocked() {
	r.cache, r.dirty = nil, true
	notify(r.updated)
	notify(r.changed)
}

// Persist saves the state with Save if it changed since the last save.
func (r *Registry) Persist() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.dirty || r.Save == nil {
		return nil
	}
	if err := r.Save(r.stateLocked()); err != nil {
		return err
	}
	r.dirty = false
	return nil
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// satInc adds one to a counter, saturating at its maximum.
func satInc(c *uint64) {
	if *c != math.MaxUint64 {
		*c++
	}
}

// nextStamp is the stamp of our next change: past after (saturating) and
// at least our clock.
func (r *Registry) nextStamp(after uint64) uint64 {
	next := after + 1
	if after == math.MaxUint64 {
		next = after
	}
	return max(next, r.stampMs())
}

// putLocked stores reg, replacing the owner's, and keeps size.
func (r *Registry) putLocked(reg *Register, at time.Time) {
	if old := r.regs[reg.Owner]; old != nil {
		r.size -= old.size
	} else if r.size == 0 {
		r.size = stateHeaderSize
	}
	h := &held{Register: *reg, size: registerSize(reg), at: at}
	r.regs[reg.Owner] = h
	r.size += h.size
}

func (r *Registry) deleteLocked(p frame.PeerName) {
	if old := r.regs[p]; old != nil {
		r.size -= old.size
		delete(r.regs, p)
	}
}

// Changed is signalled (coalesced) after the state changed, for the
// owner of the registry to persist it.
func (r *Registry) Changed() <-chan struct{} { return r.changed }

// Stats returns the counts of refused gossip.
func (r *Registry) Stats() RegistryStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// State returns the encoded state (for saving and for gossip).
func (r *Registry) State() []byte {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(now)
	return r.stateLocked()
}

func (r *Registry) stateLocked() []byte {
	if r.cache == nil {
		regs := make([]*Register, 0, len(r.regs))
		for _, h := range r.regs {
			regs = append(regs, &h.Register)
		}
		slices.SortFunc(regs, func(a, b *Register) int { return cmp.Compare(a.Owner, b.Owner) })
		r.cache = EncodeState(regs)
	}
	return r.cache
}

// GossipState implements mesh.Channel.GossipState.
func (r *Registry) GossipState() []byte { return r.State() }

// GossipUpdated implements mesh.Channel.GossipUpdated.
func (r *Registry) GossipUpdated() <-chan struct{} { return r.updated }

// GossipMerge implements mesh.Channel.GossipMerge: see Registry for the
// rules. A malformed state is refused whole.
func (r *Registry) GossipMerge(_ frame.PeerName, state []byte) error {
	regs, err := DecodeState(state)
	if err != nil {
		r.mu.Lock()
		satInc(&r.stats.Malformed)
		r.mu.Unlock()
		return err
	}
	r.merge(regs, true)
	return nil
}

// Restore folds in a state saved by State, before the registry is used.
// The state is our own, so MaxClockSkew does not apply; our register in
// it is taken and stamped past its stamp.
func (r *Registry) Restore(state []byte) error {
	if len(state) == 0 {
		return nil
	}
	regs, err := DecodeState(state)
	if err != nil {
		return err
	}
	now := r.now()
	r.mu.Lock()
	for _, g := range regs {
		if g.Owner == r.self && !g.Gone {
			mine := *g
			mine.Stamp = r.nextStamp(max(g.Stamp, r.regs[r.self].Stamp))
			r.putLocked(&mine, now)
			r.reindexLocked()
			r.signalLocked()
		}
	}
	r.mu.Unlock()
	r.merge(regs, false)
	return nil
}

// newer reports whether a wins over b (same owner).
func newer(a, b *Register) bool {
	if a.Stamp != b.Stamp {
		return a.Stamp > b.Stamp
	}
	if a.Gone != b.Gone {
		return a.Gone
	}
	ea := appendRegister(nil, a)
	eb := appendRegister(nil, b)
	return bytes.Compare(ea, eb) > 0
}

func sameRegister(a, b *Register) bool {
	return a.Stamp == b.Stamp && a.Gone == b.Gone && slices.Equal(a.Entries, b.Entries)
}

func (r *Registry) merge(regs []*Register, bounded bool) {
	now := r.now()
	limit := uint64(math.MaxUint64)
	if bounded {
		limit = r.stampMs() + uint64(r.skew().Milliseconds())
	}
	r.mu.Lock()
	r.expireLocked(now)
	changed := false
	for _, g := range regs {
		if g.Stamp > limit {
			satInc(&r.stats.Ahead)
			continue
		}
		old := r.regs[g.Owner]
		if g.Owner == r.self {
			if !sameRegister(g, &old.Register) && !newer(&old.Register, g) {
				// A copy of us at or past our stamp: outbid it.
				satInc(&r.stats.Superseded)
				mine := old.Register
				mine.Stamp = r.nextStamp(g.Stamp)
				r.putLocked(&mine, now)
				changed = true
			}
			continue
		}
		if old != nil && !newer(g, &old.Register) {
			continue
		}
		if g.Gone {
			if alive, _ := r.alive(g.Owner); alive {
				satInc(&r.stats.Alive)
				continue
			}
			if old == nil && g.Stamp <= r.expired {
				continue
			}
		}
		sz := registerSize(g)
		grow := sz
		if old != nil {
			grow -= old.size
		}
		if sz > MaxRegisterBytes || (old == nil && len(r.regs) >= MaxOwners) || r.size+grow > MaxStateBytes {
			satInc(&r.stats.Full)
			continue
		}
		r.putLocked(g, now)
		changed = true
	}
	if changed {
		r.reindexLocked()
		r.signalLocked()
	}
	r.mu.Unlock()
}

// expireLocked drops the tombstones older than the TTL.
func (r *Registry) expireLocked(now time.Time) {
	ttl := r.ttl()
	for p, h := range r.regs {
		if h.Gone && now.Sub(h.at) >= ttl {
			r.deleteLocked(p)
			r.expired = max(r.expired, h.Stamp)
			r.cache = nil
		}
	}
}

// Sweep turns the registers of peers not alive for GoneAfter into
// tombstones and expires old tombstones. The service calls it every
// second or so; it does nothing until SetLiveness.
func (r *Registry) Sweep() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expireLocked(now)
	changed := false
	for p, h := range r.regs {
		if p == r.self || h.Gone {
			delete(r.deadSince, p)
			continue
		}
		alive, known := r.alive(p)
		if !known {
			return
		}
		if alive {
			delete(r.deadSince, p)
			continue
		}
		since, ok := r.deadSince[p]
		if !ok {
			r.deadSince[p] = now
			continue
		}
		if now.Sub(since) >= r.gone() {
			r.tombstoneLocked(p, now)
			changed = true
		}
	}
	for p := range r.deadSince {
		if r.regs[p] == nil {
			delete(r.deadSince, p)
		}
	}
	if changed {
		r.reindexLocked()
		r.signalLocked()
	}
}

func (r *Registry) tombstoneLocked(p frame.PeerName, now time.Time) {
	h := r.regs[p]
	r.putLocked(&Register{Owner: p, Stamp: h.Stamp, Gone: true}, now)
	delete(r.deadSince, p)
}

// Forget drops the entries of peer p at once (rmpeer), leaving a
// tombstone that gossip carries to every router. It refuses ourselves
// and a peer alive here, and reports whether p had entries.
func (r *Registry) Forget(p frame.PeerName) (bool, error) {
	if p == r.self {
		return false, errors.New("dns: cannot forget this router's own names")
	}
	if alive, _ := r.alive(p); alive {
		return false, fmt.Errorf("dns: peer %s is alive", p)
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.regs[p]
	if h == nil || h.Gone {
		return false, nil
	}
	had := len(h.Entries) > 0
	r.tombstoneLocked(p, now)
	r.reindexLocked()
	r.signalLocked()
	return had, nil
}

// changeOwn applies edit to a copy of our entries; if they differ, it
// stores them at a new stamp and saves the state, undoing the change if
// the save fails. It returns how many entries were removed.
func (r *Registry) changeOwn(edit func([]Entry) ([]Entry, error)) (removed int, err error) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.regs[r.self]
	entries, err := edit(slices.Clone(old.Entries))
	if err != nil {
		return 0, err
	}
	slices.SortFunc(entries, compareEntry)
	entries = slices.CompactFunc(entries, func(a, b Entry) bool { return compareEntry(a, b) == 0 })
	if slices.Equal(entries, old.Entries) {
		return 0, nil
	}
	reg := &Register{Owner: r.self, Stamp: r.nextStamp(old.Stamp), Entries: entries}
	sz := registerSize(reg)
	if len(entries) > len(old.Entries) && (len(entries) > MaxEntriesPerPeer || sz > MaxRegisterBytes || r.size-old.size+sz > MaxStateBytes) {
		return 0, ErrFull
	}
	prevSize, prevCache := r.size, r.cache
	r.putLocked(reg, now)
	r.cache = nil
	if r.Save != nil {
		if err := r.Save(r.stateLocked()); err != nil {
			r.regs[r.self], r.size, r.cache = old, prevSize, prevCache
			return 0, fmt.Errorf("dns: names not saved: %w", err)
		}
	}
	r.reindexLocked()
	r.signalLocked()
	r.dirty = false
	return max(len(old.Entries)-len(entries), 0), nil
}

// Add registers name (canonical) for each address under key.
func (r *Registry) Add(key, name string, addrs []netip.Addr) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("name %q: %w", name, err)
	}
	if err := checkKey(key); err != nil {
		return err
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return err
		}
	}
	_, err := r.changeOwn(func(es []Entry) ([]Entry, error) {
		for _, a := range addrs {
			es = append(es, Entry{Name: name, Addr: a, Key: key})
		}
		return es, nil
	})
	return err
}

// SetKey makes names (canonical), each for every one of addrs, the only
// entries of key, in one change; none drops key's entries.
func (r *Registry) SetKey(key string, names []string, addrs []netip.Addr) error {
	if err := checkKey(key); err != nil {
		return err
	}
	for _, n := range names {
		if err := checkName(n); err != nil {
			return fmt.Errorf("name %q: %w", n, err)
		}
	}
	for _, a := range addrs {
		if err := checkAddr(a); err != nil {
			return err
		}
	}
	_, err := r.changeOwn(func(es []Entry) ([]Entry, error) {
		es = slices.DeleteFunc(es, func(e Entry) bool { return e.Key == key })
		for _, n := range names {
			for _, a := range addrs {
				es = append(es, Entry{Name: n, Addr: a, Key: key})
			}
		}
		return es, nil
	})
	return err
}

// LocalKeys lists the keys of this router's entries, sorted.
func (r *Registry) LocalKeys() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if own := r.regs[r.self]; own != nil {
		for _, e := range own.Entries {
			if !slices.Contains(out, e.Key) {
				out = append(out, e.Key)
			}
		}
	}
	slices.Sort(out)
	return out
}

// RemoveKey drops every entry of key; it returns how many.
func (r *Registry) RemoveKey(key string) (int, error) {
	return r.changeOwn(func(es []Entry) ([]Entry, error) {
		return slices.DeleteFunc(es, func(e Entry) bool { return e.Key == key }), nil
	})
}

// RemoveAddrs drops our entries for any of addrs (only those of name, if
// it is not empty), whatever their key; it returns how many.
func (r *Registry) RemoveAddrs(addrs []netip.Addr, name string) (int, error) {
	return r.changeOwn(func(es []Entry) ([]Entry, error) {
		return slices.DeleteFunc(es, func(e Entry) bool {
			return slices.Contains(addrs, e.Addr) && (name == "" || e.Name == name)
		}), nil
	})
}

// Registers returns a copy of every register, tombstones included,
// sorted by owner.
func (r *Registry) Registers() []Register {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Register, 0, len(r.regs))
	for _, h := range r.regs {
		g := h.Register
		g.Entries = slices.Clone(g.Entries)
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b Register) int { return cmp.Compare(a.Owner, b.Owner) })
	return out
}
