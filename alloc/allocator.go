package alloc

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// Errors of Allocate and Claim.
var (
	// ErrNoRing: this peer has no ring yet (it waits for one from a peer).
	ErrNoRing = errors.New("no address space yet: waiting for the allocation ring from a peer " +
		"(one router must start without --peer, or every router needs the same --ipalloc-seed)")
	// ErrPending: space was asked for from peers that have some; retry
	// after the next merge.
	ErrPending = errors.New("waiting for a peer to grant address space")
	// ErrFresh: the ring was just built from the seeds and no other
	// member has been heard from yet.
	ErrFresh = errors.New("waiting to hear from another member before allocating from a new ring")
	// ErrExhausted is wrapped by an *ExhaustedError.
	ErrExhausted = errors.New("address space exhausted")
	// ErrInUse: a claimed address is allocated to another container.
	ErrInUse = errors.New("address in use")
	// ErrNotSaved: the Store refused a write, so the allocation (or the
	// ring it comes from) would not survive a crash; nothing was handed
	// out.
	ErrNotSaved = errors.New("ipam: cannot save to the address database")
)

// ExhaustedError says that no peer has a free address in a subnet.
type ExhaustedError struct {
	Subnet    netip.Prefix
	Allocated uint64
}

func (e *ExhaustedError) Error() string {
	return fmt.Sprintf("subnet %s is full: all %d usable addresses are allocated", e.Subnet, e.Allocated)
}

// Unwrap returns ErrExhausted.
func (e *ExhaustedError) Unwrap() error { return ErrExhausted }

// Config configures an Allocator.
type Config struct {
	// Self is this peer's name. Required.
	Self frame.PeerName
	// Universe is the range every address comes from. If zero, defaults
	// to 10.32.0.0/12.
	Universe netip.Prefix
	// Seeds are the peers the ring is created with: every peer given the
	// same Seeds builds the same initial ring on its own. If empty, the
	// peer waits for a ring from a peer that has one.
	Seeds []frame.PeerName
	// Yield: Seeds were not chosen by the user (a router started alone
	// seeds itself). While such a ring is unused (only us, no address in
	// use) it gives way to a peer's ring instead of refusing it, so that
	// `up` on one host and `connect` later just works.
	Yield bool
	// Await: a ring built here from Seeds allocates nothing until another
	// member is heard from (ErrFresh), as a ring of several seeds does,
	// even with this peer as its only seed. A peer that seeds the ring
	// for others who are expected to exist sets it, so that it never
	// hands out space of a ring its peers already divided.
	Await bool
	// Alive reports whether a peer is up and reachable now. If nil, no
	// peer but Self is.
	Alive func(frame.PeerName) bool
	// Store persists the state and allocations. If nil, nothing is kept.
	Store Store
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
}

// DefaultUniverse is the default allocation range, as Weave's.
var DefaultUniverse = netip.MustParsePrefix("10.32.0.0/12")

func (c Config) withDefaults() Config {
	if !c.Universe.IsValid() {
		c.Universe = DefaultUniverse
	}
	c.Universe = c.Universe.Masked()
	if c.Alive == nil {
		c.Alive = func(frame.PeerName) bool { return false }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Self == frame.UnknownPeer {
		return errors.New("ipam: no peer name")
	}
	if c.Universe.IsValid() {
		if err := checkPrefix(c.Universe); err != nil {
			return fmt.Errorf("--ipalloc-range: %w", err)
		}
	}
	if len(c.Seeds) > MaxSeeds {
		return fmt.Errorf("--ipalloc-seed: %d peers, at most %d", len(c.Seeds), MaxSeeds)
	}
	return nil
}

// Allocator is one peer's allocator: the gossiped State and the
// addresses this peer handed out. It is pure logic, driven by its caller
// (Service in a router, the simulation in tests); it is not safe for
// concurrent use.
type Allocator struct {
	cfg  Config
	self frame.PeerName
	log  *slog.Logger
	st   *State // nil until a ring is known

	addrs  map[uint32]string   // our allocations: address → key
	keys   map[string][]uint32 // key → its addresses
	used   map[uint32]uint32   // token of an owned entry → allocations in it
	cursor map[netip.Prefix]uint64
	claims map[uint32]string // claimed addresses we do not own yet
	wants  []netip.Prefix    // subnets we lack space in

	donated  map[frame.PeerName]wantSeen // the latest want of each member
	ticks    uint64
	proposal uint32         // seq of our last proposal
	commits  map[uint32]int // seq of a committed proposal → addresses reclaimed
	dirty    bool           // state changed since TakeDirty
	// fresh: the ring was built here from several seeds (or with Await)
	// and we have not heard from another member yet, so it may be stale
	// (a seed whose data was wiped): allocate nothing from it yet.
	fresh bool
	lost  int // addresses dropped because their range moved away

	// left: we handed our ranges over and marked ourselves Removed
	// (Leave); leftAs is that register, and leaveKnown says a peer's
	// state has carried it back to us.
	left       bool
	heir       frame.PeerName
	handed     uint64
	leftAs     *Member
	leaveKnown bool

	// unsavedKeys are keys whose addresses the Store refused, and
	// stateUnsaved says it refused the state: Tick writes them again.
	// While the state is unsaved nothing is allocated and nothing
	// gossiped, so no peer hears of a change a crash would forget.
	unsavedKeys  map[string]bool
	stateUnsaved bool
}

// New returns an allocator, loading what cfg.Store kept.
func New(cfg Config) (*Allocator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	a := &Allocator{
		cfg: c, self: c.Self, log: c.Logger.With("component", "ipam"),
		addrs: map[uint32]string{}, keys: map[string][]uint32{}, used: map[uint32]uint32{},
		cursor: map[netip.Prefix]uint64{}, claims: map[uint32]string{}, donated: map[frame.PeerName]wantSeen{},
		commits: map[uint32]int{}, unsavedKeys: map[string]bool{},
	}
	if c.Store != nil {
		state, allocs, err := c.Store.Load()
		if err != nil {
			return nil, fmt.Errorf("ipam: %w", err)
		}
		if state != nil {
			st, err := DecodeState(state)
			if err != nil {
				return nil, fmt.Errorf("ipam: stored state: %w", err)
			}
			if st.Ring.Universe != c.Universe {
				return nil, fmt.Errorf("ipam: the data directory holds range %s, not %s: "+
					"change --ipalloc-range back or remove the data directory's ipam.db", st.Ring.Universe, c.Universe)
			}
			a.st = st
		}
		for key, as := range allocs {
			for _, ad := range as {
				if ad.Is4() {
					a.addrs[addrToU32(ad)] = key
					a.keys[key] = append(a.keys[key], addrToU32(ad))
				}
			}
		}
	}
	if a.st == nil && len(c.Seeds) > 0 {
		a.st = &State{Ring: NewRing(c.Universe, c.Seeds), Members: map[frame.PeerName]*Member{}}
		for _, s := range a.st.Ring.Seeds {
			a.st.Members[s] = &Member{Name: s, Version: 1}
		}
		a.fresh = len(a.st.Ring.Seeds) > 1 || c.Await
		a.dirty = true
	}
	if a.st != nil {
		a.register()
		if m := a.me(); m.Proposal != nil {
			// The rmpeer call that started it is gone with our previous run.
			a.proposal = m.Proposal.Seq
			a.Withdraw(m.Proposal.Seq)
		}
		a.recount()
		if err := a.persistState(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Ready reports whether the allocator has a ring to allocate from.
func (a *Allocator) Ready() bool { return a.st != nil && !a.fresh }

// Lost counts allocated addresses dropped because their range moved to
// another peer (a reclaim of us, or a transfer a lost state missed).
func (a *Allocator) Lost() int { return a.lost }

// Universe returns the allocation range.
func (a *Allocator) Universe() netip.Prefix { return a.cfg.Universe }

// me is our own register.
func (a *Allocator) me() *Member { return a.st.Members[a.self] }

// register adds our register if the state lacks it, rejoining with the
// next epoch if we were removed.
func (a *Allocator) register() {
	m := a.me()
	switch {
	case m == nil:
		a.st.Members[a.self] = &Member{Name: a.self, Version: 1}
	case m.Removed:
		epoch, ok := inc(m.Epoch)
		if !ok {
			a.log.Error("ipam: cannot rejoin the ring: our register's epoch is at its maximum")
			return
		}
		a.st.Members[a.self] = &Member{Name: a.self, Epoch: epoch, Version: 1}
	default:
		return
	}
	a.dirty = true
}

// updateSelf changes our register, bumping its version. At the maximum
// version it changes nothing: no copy could supersede the current one.
func (a *Allocator) updateSelf(fn func(m *Member)) {
	v, ok := inc(a.me().Version)
	if !ok {
		a.log.Error("ipam: cannot change our register: its version is at its maximum")
		return
	}
	m := a.me().clone()
	fn(m)
	m.Version = v
	a.st.Members[a.self] = m
	a.dirty = true
	// Acks and proposals must be on disk before a peer can see them: a
	// restart that forgot an ack could ack a second, rival reclaim.
	a.persistState()
}

// recount rebuilds the per-entry allocation counts after the ring moved.
func (a *Allocator) recount() {
	clear(a.used)
	if a.st == nil {
		return
	}
	r := a.st.Ring
	for ad := range a.addrs {
		if i := r.find(uint64(ad)); i >= 0 && r.Entries[i].Owner == a.self {
			a.used[r.Entries[i].Token]++
		}
	}
}

// owns reports whether address ad lies in a range we own, and the entry.
func (a *Allocator) owns(ad uint64) (int, bool) {
	i := a.st.Ring.find(ad)
	return i, i >= 0 && a.st.Ring.Entries[i].Owner == a.self
}

// Lookup returns the addresses allocated to key.
func (a *Allocator) Lookup(key string) []netip.Addr {
	var out []netip.Addr
	for _, ad := range a.keys[key] {
		out = append(out, u32ToAddr(ad))
	}
	return out
}

// Allocate returns an address for key in subnet: the one key already has
// there, or a free one from this peer's space. Without free space it asks
// peers for some and returns ErrPending; with none left anywhere, an
// *ExhaustedError.
func (a *Allocator) Allocate(key string, subnet netip.Prefix) (netip.Addr, error) {
	if a.left {
		return netip.Addr{}, ErrLeft
	}
	if a.st == nil {
		return netip.Addr{}, ErrNoRing
	}
	if a.fresh {
		return netip.Addr{}, ErrFresh
	}
	subnet = subnet.Masked()
	for _, ad := range a.keys[key] {
		if subnet.Contains(u32ToAddr(ad)) {
			return u32ToAddr(ad), nil
		}
	}
	use := usable(subnet).intersect(prefixSpan(a.cfg.Universe))
	if use.size() == 0 {
		return netip.Addr{}, fmt.Errorf("subnet %s has no usable address in range %s", subnet, a.cfg.Universe)
	}
	if err := a.saveUnsavedState(); err != nil {
		return netip.Addr{}, err
	}
	if ad, ok := a.findFree(subnet, use); ok {
		if err := a.take(key, ad); err != nil {
			return netip.Addr{}, err
		}
		a.cursor[subnet] = uint64(ad) + 1
		return u32ToAddr(ad), nil
	}
	if free, _ := a.freeElsewhere(use); free == 0 {
		return netip.Addr{}, &ExhaustedError{Subnet: subnet, Allocated: use.size()}
	}
	a.want(subnet)
	return netip.Addr{}, ErrPending
}

// findFree scans our ranges in use for an unallocated address, starting
// at the subnet's cursor and wrapping once.
func (a *Allocator) findFree(subnet netip.Prefix, use span) (uint32, bool) {
	start := max(a.cursor[subnet], use.lo)
	if start >= use.hi {
		start = use.lo
	}
	try := func(from, to uint64) (uint32, bool) {
		r := a.st.Ring
		for i := range r.Entries {
			e := r.Entries[i]
			if e.Owner != a.self {
				continue
			}
			s := r.rangeOf(i).intersect(span{from, to})
			if s.size() == 0 || uint64(a.used[e.Token]) >= r.rangeOf(i).size() {
				continue
			}
			for ad := s.lo; ad < s.hi; ad++ {
				if _, taken := a.addrs[uint32(ad)]; !taken {
					return uint32(ad), true
				}
			}
		}
		return 0, false
	}
	if ad, ok := try(start, use.hi); ok {
		return ad, true
	}
	return try(use.lo, start)
}

// take allocates ad to key and saves key's addresses; if the Store
// refuses, ad stays free and the error Is ErrNotSaved.
func (a *Allocator) take(key string, ad uint32) error {
	a.addrs[ad] = key
	a.keys[key] = append(a.keys[key], ad)
	i, owned := a.owns(uint64(ad))
	if owned {
		a.used[a.st.Ring.Entries[i].Token]++
	}
	if err := a.saveKey(key); err != nil {
		delete(a.addrs, ad)
		a.keys[key] = slices.DeleteFunc(a.keys[key], func(v uint32) bool { return v == ad })
		if len(a.keys[key]) == 0 {
			delete(a.keys, key)
		}
		if owned {
			a.used[a.st.Ring.Entries[i].Token]--
		}
		return err
	}
	return nil
}

// freeElsewhere estimates the free addresses in use that other live or
// dead members hold, from their entries' free counts.
func (a *Allocator) freeElsewhere(use span) (free uint64, owners []frame.PeerName) {
	r := a.st.Ring
	for i, e := range r.Entries {
		if e.Owner == a.self {
			continue
		}
		n := min(uint64(e.Free), r.rangeOf(i).intersect(use).size())
		if n > 0 {
			free += n
			if !slices.Contains(owners, e.Owner) {
				owners = append(owners, e.Owner)
			}
		}
	}
	return free, owners
}

// want asks peers for space in subnet (through our register).
func (a *Allocator) want(subnet netip.Prefix) {
	if slices.Contains(a.wants, subnet) {
		return
	}
	if len(a.wants) >= MaxWants {
		a.wants = a.wants[1:]
	}
	a.wants = append(a.wants, subnet)
	a.syncWants()
}

// syncWants publishes a.wants in our register if it differs.
func (a *Allocator) syncWants() {
	if a.st == nil || slices.Equal(a.me().Wants, a.wants) {
		return
	}
	w := slices.Clone(a.wants)
	a.updateSelf(func(m *Member) {
		m.Wants = w
		if len(w) > 0 {
			m.WantSeq, _ = inc(m.WantSeq)
		}
	})
}

// Claim records that key uses address ad (an address given explicitly, or
// one a container had before a restart), so that it is never handed out
// to anyone else. An address outside the range is not ours to track and
// is accepted. An address in another peer's range is asked for; the claim
// completes when the owner grants it (ErrPending until then).
func (a *Allocator) Claim(key string, ad netip.Addr) error {
	if !ad.Is4() || !a.cfg.Universe.Contains(ad) {
		return nil
	}
	if a.left {
		return ErrLeft
	}
	v := addrToU32(ad)
	if k, ok := a.addrs[v]; ok {
		if k != key {
			return fmt.Errorf("%w: %s is allocated to %s", ErrInUse, ad, k)
		}
		return nil
	}
	if k, ok := a.claims[v]; ok && k != key {
		return fmt.Errorf("%w: %s is claimed by %s", ErrInUse, ad, k)
	}
	if a.st == nil || a.fresh {
		a.claims[v] = key
		return ErrNoRing
	}
	if _, ok := a.owns(uint64(v)); ok {
		if err := a.saveUnsavedState(); err != nil {
			return err
		}
		if err := a.take(key, v); err != nil {
			return err
		}
		delete(a.claims, v)
		return nil
	}
	a.claims[v] = key
	a.want(netip.PrefixFrom(ad, 32))
	return ErrPending
}

// Holder is the key ad is allocated to, or claimed by while its space
// is another peer's.
func (a *Allocator) Holder(ad netip.Addr) (string, bool) {
	if !ad.Is4() {
		return "", false
	}
	v := addrToU32(ad)
	if k, ok := a.addrs[v]; ok {
		return k, true
	}
	k, ok := a.claims[v]
	return k, ok
}

// Release frees every address of key (and drops its pending claims). It
// returns the addresses freed.
func (a *Allocator) Release(key string) []netip.Addr {
	var out []netip.Addr
	for _, ad := range a.keys[key] {
		delete(a.addrs, ad)
		out = append(out, u32ToAddr(ad))
		if a.st != nil {
			if i, ok := a.owns(uint64(ad)); ok && a.used[a.st.Ring.Entries[i].Token] > 0 {
				a.used[a.st.Ring.Entries[i].Token]--
			}
		}
	}
	if _, ok := a.keys[key]; ok {
		delete(a.keys, key)
		a.persistKey(key)
	}
	for ad, k := range a.claims {
		if k == key {
			delete(a.claims, ad)
		}
	}
	return out
}

// Keys returns every key with addresses, and the addresses.
func (a *Allocator) Keys() map[string][]netip.Addr {
	out := make(map[string][]netip.Addr, len(a.keys))
	for k := range a.keys {
		out[k] = a.Lookup(k)
	}
	return out
}

// saveKey writes key's addresses to the Store. An error Is ErrNotSaved.
func (a *Allocator) saveKey(key string) error {
	if a.cfg.Store == nil {
		return nil
	}
	if err := a.cfg.Store.SaveKey(key, a.Lookup(key)); err != nil {
		return fmt.Errorf("%w: addresses of %s: %w", ErrNotSaved, key, err)
	}
	delete(a.unsavedKeys, key)
	return nil
}

// persistKey saves key's addresses after a release or a loss: an error
// is logged and the key written again at the next Tick. Until then the
// Store still lists addresses that are free in memory, which a restart
// would only keep allocated (never hand out twice).
func (a *Allocator) persistKey(key string) {
	if err := a.saveKey(key); err != nil {
		if !a.unsavedKeys[key] {
			a.log.Error("ipam: cannot save a release; retrying", "key", key, "err", err)
		}
		a.unsavedKeys[key] = true
	}
}

// persistState saves the state. On error it is written again at the next
// Tick (and before any allocation); until then Encode gossips nothing.
func (a *Allocator) persistState() error {
	if a.cfg.Store == nil || a.st == nil {
		return nil
	}
	if err := a.cfg.Store.SaveState(AppendState(nil, a.st)); err != nil {
		if !a.stateUnsaved {
			a.log.Error("ipam: cannot save the allocation ring: allocating and gossiping nothing until it can", "err", err)
		}
		a.stateUnsaved = true
		return fmt.Errorf("%w: the ring: %w", ErrNotSaved, err)
	}
	if a.stateUnsaved {
		a.log.Info("ipam: the allocation ring is saved again")
	}
	a.stateUnsaved = false
	return nil
}

// saveUnsavedState writes the state again if the last write failed.
func (a *Allocator) saveUnsavedState() error {
	if !a.stateUnsaved {
		return nil
	}
	return a.persistState()
}

// retryUnsaved writes again what the Store refused before.
func (a *Allocator) retryUnsaved() {
	for key := range a.unsavedKeys {
		if a.saveKey(key) != nil {
			break
		}
	}
	_ = a.saveUnsavedState()
}
