package isolation

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// AllowChannelID is the mesh channel that carries the AllowSet (the IP
// allocator's is 1).
const AllowChannelID = 2

// MaxAllowEntries bounds the AllowSet (allowed and denied pairs ever
// named), so that its gossiped state stays far below one message.
const MaxAllowEntries = 1024

// MaxAllowClockStep bounds how far past our clock an entry's clock may be
// for GossipMerge to take it. Clocks advance by one per allow or deny
// anywhere in the mesh, so a legitimate state is never near this far
// ahead; a forged state has to be merged 2^32 times to walk the clock
// up to its maximum.
const MaxAllowClockStep = 1 << 32

// DefaultAllowTombstoneTTL is AllowSet.TombstoneTTL when left zero.
const DefaultAllowTombstoneTTL = time.Hour

// allowEntry is the last word on one pair: allowed or denied, at a
// Lamport clock, by a router. The greater (Clock, Origin) wins.
type allowEntry struct {
	Allowed bool
	Clock   uint64
	Origin  frame.PeerName
	// at is when this replica stored the entry (not on the wire): a
	// denied entry expires TombstoneTTL after.
	at time.Time
}

func comparePair(a, b Pair) int { return cmp.Or(comparePrefix(a.A, b.A), comparePrefix(a.B, b.B)) }

func (e allowEntry) newer(o allowEntry) bool {
	if e.Clock != o.Clock {
		return e.Clock > o.Clock
	}
	return e.Origin > o.Origin
}

// AllowSet is the mesh-wide set of allowed pairs: a state-based CRDT (a
// last-writer-wins map from pair to allowed/denied, with Lamport clocks
// and the origin router's name breaking ties), so that `allow A B` on one
// router opens the pair on every router and `deny` closes it everywhere,
// whatever order the messages arrive in. It is safe for concurrent use.
//
// A denied pair stays as a tombstone, so that an old "allowed" still
// circulating cannot come back, for TombstoneTTL after this replica
// stored it; then it expires, so that tombstones do not fill the set's
// MaxAllowEntries for good. A copy of an expired tombstone arriving
// later (from a replica that stored it later) is not taken again. An
// "allowed" older than the deny that reaches a replica only after the
// tombstone expired there opens the pair again: the TTL must outlast
// the time gossip takes to reach every router.
//
// Clocks cannot be forged into permanence: GossipMerge refuses entries
// more than MaxAllowClockStep past our clock (counted in Stats), and the
// clock saturates at its maximum instead of wrapping (Set then refuses a
// change it could not make win).
type AllowSet struct {
	// TombstoneTTL is how long a denied pair is kept (see above). If
	// zero, DefaultAllowTombstoneTTL. Set it before the set is used.
	TombstoneTTL time.Duration
	// Now is the clock tombstones are dated by. If nil, time.Now. Set it
	// before the set is used.
	Now func() time.Time

	self    frame.PeerName
	updated chan struct{}
	// changed, if set, is called (without the lock) after the set of
	// allowed pairs changed through a merge.
	changed func()

	mu      sync.Mutex
	entries map[Pair]allowEntry
	clock   uint64
	// expired is the largest clock of a tombstone expired here: a
	// tombstone at or below it, for a pair we do not hold, is one that
	// expired here already (or is older still) and is not taken again.
	expired uint64
	stats   AllowStats
}

// AllowStats counts the entries GossipMerge refused, by reason. The
// counters saturate.
type AllowStats struct {
	// Ahead: the entry's clock was more than MaxAllowClockStep past ours.
	Ahead uint64
	// Full: a pair new to us while the set held MaxAllowEntries.
	Full uint64
}

// Stats returns the counts of refused entries.
func (s *AllowSet) Stats() AllowStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

func (s *AllowSet) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *AllowSet) ttl() time.Duration {
	if s.TombstoneTTL > 0 {
		return s.TombstoneTTL
	}
	return DefaultAllowTombstoneTTL
}

// expire drops the tombstones older than the TTL; s.mu is held.
func (s *AllowSet) expire(now time.Time) {
	ttl := s.ttl()
	for p, e := range s.entries {
		if !e.Allowed && now.Sub(e.at) >= ttl {
			delete(s.entries, p)
			s.expired = max(s.expired, e.Clock)
		}
	}
}

// satInc adds one to a counter, saturating at its maximum.
func satInc(c *uint64) {
	if *c != math.MaxUint64 {
		*c++
	}
}

// NewAllowSet returns an empty set for router self. changed (may be nil)
// is called after a merge changed the allowed pairs.
func NewAllowSet(self frame.PeerName, changed func()) *AllowSet {
	return &AllowSet{self: self, changed: changed, updated: make(chan struct{}, 1), entries: map[Pair]allowEntry{}}
}

// Set allows (or denies) p from this router. It reports whether the
// allowed pairs changed. It fails when the set is full, or when the clock
// is at its maximum and the change would not win over what p holds.
func (s *AllowSet) Set(p Pair, allowed bool) (bool, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	old, had := s.entries[p]
	if !had && len(s.entries) >= MaxAllowEntries {
		return false, fmt.Errorf("too many allowed or denied pairs (%d)", MaxAllowEntries)
	}
	clock := s.clock
	satInc(&clock)
	e := allowEntry{Allowed: allowed, Clock: clock, Origin: s.self, at: now}
	if had && !e.newer(old) {
		return false, errors.New("allow set: clock exhausted")
	}
	s.clock = clock
	s.entries[p] = e
	s.signal()
	return old.Allowed != allowed, nil
}

// Allowed returns the allowed pairs, sorted.
func (s *AllowSet) Allowed() []Pair {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Pair
	for p, e := range s.entries {
		if e.Allowed {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, comparePair)
	return out
}

func (s *AllowSet) signal() {
	select {
	case s.updated <- struct{}{}:
	default:
	}
}

// GossipUpdated implements mesh.Channel.GossipUpdated.
func (s *AllowSet) GossipUpdated() <-chan struct{} { return s.updated }

// GossipState implements mesh.Channel.GossipState: the encoded entries,
// or nil while there are none.
func (s *AllowSet) GossipState() []byte {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	if len(s.entries) == 0 {
		return nil
	}
	return encodeAllow(s.entries)
}

// GossipMerge implements mesh.Channel.GossipMerge: every entry newer than
// the local one replaces it, except entries more than MaxAllowClockStep
// past our clock (as it was before the merge), new pairs while the set is
// full (both counted in Stats) and tombstones that expired here. A
// malformed state is refused whole.
func (s *AllowSet) GossipMerge(_ frame.PeerName, state []byte) error {
	return s.merge(state, true)
}

// merge folds state in; bounded applies MaxAllowClockStep.
func (s *AllowSet) merge(state []byte, bounded bool) error {
	in, err := DecodeAllow(state)
	if err != nil {
		return err
	}
	now := s.now()
	s.mu.Lock()
	s.expire(now)
	limit := uint64(math.MaxUint64)
	if bounded && s.clock < math.MaxUint64-MaxAllowClockStep {
		limit = s.clock + MaxAllowClockStep
	}
	changedAllowed, changed := false, false
	for p, e := range in {
		if e.Clock > limit {
			satInc(&s.stats.Ahead)
			continue
		}
		s.clock = max(s.clock, e.Clock)
		old, had := s.entries[p]
		if had && !e.newer(old) {
			continue
		}
		if !had && !e.Allowed && e.Clock <= s.expired {
			continue
		}
		if !had && len(s.entries) >= MaxAllowEntries {
			satInc(&s.stats.Full)
			continue
		}
		e.at = now
		s.entries[p] = e
		changed = true
		if old.Allowed != e.Allowed {
			changedAllowed = true
		}
	}
	if changed {
		s.signal()
	}
	s.mu.Unlock()
	if changedAllowed && s.changed != nil {
		s.changed()
	}
	return nil
}

// State returns the encoded state (for saving), and Restore folds a saved
// one back in; both use the gossip encoding.
func (s *AllowSet) State() []byte { return s.GossipState() }

// Restore merges a state saved by State. The state is our own, so
// MaxAllowClockStep does not apply; its tombstones count from now.
func (s *AllowSet) Restore(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return s.merge(b, false)
}

// The encoding:
//
//	version   1 byte (1)
//	count     2 bytes, big endian
//	entries   count times:
//	  family  1 byte: 4 or 6
//	  A       4 or 16 bytes of address, 1 byte of prefix length
//	  B       the same
//	  allowed 1 byte: 0 or 1
//	  clock   8 bytes, big endian
//	  origin  6 bytes (the router's 48-bit name)
const allowVersion = 1

func encodeAllow(m map[Pair]allowEntry) []byte {
	b := []byte{allowVersion}
	b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
	keys := make([]Pair, 0, len(m))
	for p := range m {
		keys = append(keys, p)
	}
	slices.SortFunc(keys, comparePair)
	for _, p := range keys {
		e := m[p]
		fam := byte(4)
		if p.A.Addr().Is6() {
			fam = 6
		}
		b = append(b, fam)
		for _, x := range []netip.Prefix{p.A, p.B} {
			b = append(b, x.Addr().AsSlice()...)
			b = append(b, byte(x.Bits()))
		}
		al := byte(0)
		if e.Allowed {
			al = 1
		}
		b = append(b, al)
		b = binary.BigEndian.AppendUint64(b, e.Clock)
		var o [8]byte
		binary.BigEndian.PutUint64(o[:], uint64(e.Origin))
		b = append(b, o[2:]...)
	}
	return b
}

var errAllowShort = errors.New("allow set: truncated")

// DecodeAllow parses an encoded AllowSet state. Every pair must be
// canonical (masked, the smaller prefix first, one family), entries
// unique, and the count within MaxAllowEntries.
func DecodeAllow(b []byte) (map[Pair]allowEntry, error) {
	if len(b) < 3 {
		return nil, errAllowShort
	}
	if b[0] != allowVersion {
		return nil, fmt.Errorf("allow set: unknown version %d", b[0])
	}
	n := int(binary.BigEndian.Uint16(b[1:3]))
	if n > MaxAllowEntries {
		return nil, fmt.Errorf("allow set: %d entries, more than %d", n, MaxAllowEntries)
	}
	b = b[3:]
	out := make(map[Pair]allowEntry, n)
	for range n {
		if len(b) < 1 {
			return nil, errAllowShort
		}
		alen := 4
		switch b[0] {
		case 4:
		case 6:
			alen = 16
		default:
			return nil, fmt.Errorf("allow set: unknown address family %d", b[0])
		}
		b = b[1:]
		var pfx [2]netip.Prefix
		for i := range pfx {
			if len(b) < alen+1 {
				return nil, errAllowShort
			}
			a, _ := netip.AddrFromSlice(b[:alen])
			p, err := a.Prefix(int(b[alen]))
			if err != nil || int(b[alen]) > alen*8 || p.Addr() != a {
				return nil, fmt.Errorf("allow set: %s/%d is not a network prefix", a, b[alen])
			}
			pfx[i] = p
			b = b[alen+1:]
		}
		if len(b) < 1+8+6 {
			return nil, errAllowShort
		}
		if b[0] > 1 {
			return nil, fmt.Errorf("allow set: bad allowed flag %d", b[0])
		}
		pr := Pair{A: pfx[0], B: pfx[1]}
		if NewPair(pr.A, pr.B) != pr {
			return nil, fmt.Errorf("allow set: pair %s is not in canonical order", pr)
		}
		var o [8]byte
		copy(o[2:], b[9:15])
		e := allowEntry{Allowed: b[0] == 1, Clock: binary.BigEndian.Uint64(b[1:9]), Origin: frame.PeerName(binary.BigEndian.Uint64(o[:]))}
		if _, dup := out[pr]; dup {
			return nil, fmt.Errorf("allow set: pair %s twice", pr)
		}
		out[pr] = e
		b = b[15:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("allow set: %d bytes after the entries", len(b))
	}
	return out, nil
}
