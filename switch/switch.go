package ethswitch

import (
	"bytes"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Action is what the router does with one frame.
type Action uint8

// Actions, in the order of a Decision's zero value first.
const (
	// Drop discards the frame; the reason is counted in Stats.
	Drop Action = iota
	// Local delivers the frame to the local bridge only.
	Local
	// Peer unicasts the frame to Decision.Peer, the destination peer; the
	// router maps it to a next hop.
	Peer
	// Flood sends a locally captured frame to all peers along this peer's
	// broadcast tree; for a frame from a peer, it continues the frame's
	// flood along the originating peer's (Meta.Src) broadcast tree,
	// excluding Meta.Via, without delivering it locally.
	Flood
	// LocalAndFlood delivers a frame from a peer locally and continues its
	// flood along the originating peer's (Meta.Src) broadcast tree,
	// excluding Meta.Via.
	LocalAndFlood
)

var actionNames = [...]string{"Drop", "Local", "Peer", "Flood", "LocalAndFlood"}

// String returns the action's name.
func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Decision is the switch's verdict on one frame. Peer is set only when
// Action is Peer; it is UnknownPeer otherwise.
type Decision struct {
	Action Action
	Peer   frame.PeerName
}

// Entry is one MAC table entry, as returned by Entries.
type Entry struct {
	MAC      frame.MAC
	Peer     frame.PeerName // the peer the MAC lives behind
	LastSeen time.Time      // last refresh of the entry (coarse, see doc.go)
}

// Switch is a learning Ethernet switch: a bounded MAC table and the
// forwarding decisions made from it. Create it with New. All methods are
// safe for concurrent use; see the package documentation for the locking
// contract.
type Switch struct {
	self    frame.PeerName
	now     func() time.Time
	base    time.Time // ticks are nanoseconds since base
	maxAge  int64
	echo    int64
	refresh int64
	max     int

	fdb struct {
		sync.RWMutex
		*table
	}
	ctr counters
}

// New returns a Switch for cfg, with an empty table of cfg.MaxEntries
// entries allocated up front. It returns an error that Is ErrNoSelf or
// ErrInvalidConfig if cfg is invalid.
func New(cfg Config) (*Switch, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	s := &Switch{
		self:    c.Self,
		now:     c.Now,
		maxAge:  int64(c.MaxAge),
		echo:    int64(c.EchoWindow),
		refresh: int64(c.refreshInterval()),
		max:     c.MaxEntries,
	}
	s.base = s.now()
	s.fdb.table = newTable(c.MaxEntries)
	return s, nil
}

// Self returns this switch's own peer name.
func (s *Switch) Self() frame.PeerName { return s.self }

// tick returns the current time in nanoseconds since s.base.
func (s *Switch) tick() int64 { return int64(s.now().Sub(s.base)) }

// Lookup returns the peer that owns m and reports whether m is in the
// table.
func (s *Switch) Lookup(m frame.MAC) (frame.PeerName, bool) {
	s.fdb.RLock()
	defer s.fdb.RUnlock()
	if e := s.fdb.find(macKey(m)); e != nil {
		return e.owner, true
	}
	return frame.UnknownPeer, false
}

// Generation returns a number that changes whenever a MAC joins or
// leaves the table (learned, claimed, evicted, expired, forgotten) or
// moves to another owner, and only then: refreshing an entry (a frame
// from a known MAC, Touch) leaves it alone. It takes no lock. A consumer
// that mirrors the table compares it with the generation of its last
// Snapshot to know whether to take a new one.
func (s *Switch) Generation() uint64 { return s.fdb.gen.Load() }

// Entries returns a copy of the table, sorted by MAC. It allocates and
// walks the whole table under the read lock: meant for status, not for
// the data path.
func (s *Switch) Entries() []Entry {
	_, out := s.Snapshot()
	return out
}

// Snapshot returns the Generation and Entries of the table at one
// instant: the entries are those of that generation exactly. It costs
// what Entries costs.
func (s *Switch) Snapshot() (gen uint64, entries []Entry) {
	s.fdb.RLock()
	gen = s.fdb.gen.Load()
	out := make([]Entry, 0, s.fdb.len())
	for _, l := range [...]*list{&s.fdb.probation, &s.fdb.established} {
		for p := l.head; p != nilPos; p = s.fdb.slab[p].next {
			e := &s.fdb.slab[p]
			out = append(out, Entry{
				MAC:      keyMAC(e.key),
				Peer:     e.owner,
				LastSeen: s.base.Add(time.Duration(e.seen.Load())),
			})
		}
	}
	s.fdb.RUnlock()
	slices.SortFunc(out, func(a, b Entry) int { return bytes.Compare(a.MAC[:], b.MAC[:]) })
	return gen, out
}

// ForgetPeer removes every MAC owned by p, for example because p left the
// mesh or restarted, and returns how many it removed. It takes the write
// lock and walks the table.
func (s *Switch) ForgetPeer(p frame.PeerName) int {
	if p == frame.UnknownPeer {
		return 0
	}
	s.fdb.Lock()
	n := s.fdb.removeIf(func(e *entry) bool { return e.owner == p })
	s.ctr.entries.Store(int64(s.fdb.len()))
	s.fdb.Unlock()
	s.ctr.c[cForgotten].Add(uint64(n))
	return n
}

// Touch records that traffic from or to m, owned by owner, was carried
// without passing through the switch (by the kernel fast path), so that
// the entry does not age out while in use. It refreshes the entry as a
// frame from m would, only if m is in the table and still owned by owner,
// and reports whether it did. It takes the read lock; not for the data
// path.
func (s *Switch) Touch(m frame.MAC, owner frame.PeerName) bool {
	now := s.tick()
	s.fdb.RLock()
	defer s.fdb.RUnlock()
	e := s.fdb.find(macKey(m))
	if e == nil || e.owner != owner {
		return false
	}
	e.touch(now, s.refresh)
	return true
}

// Expire removes the entries whose last-seen record is more than MaxAge
// old and returns how many it removed. The router calls it periodically,
// typically every MaxAge/10. It takes the write lock and walks the table.
func (s *Switch) Expire() int {
	now := s.tick()
	s.fdb.Lock()
	n := s.fdb.removeIf(func(e *entry) bool { return now-e.seen.Load() > s.maxAge })
	s.ctr.entries.Store(int64(s.fdb.len()))
	s.fdb.Unlock()
	s.ctr.c[cExpired].Add(uint64(n))
	return n
}

// Stats returns a snapshot of the counters. It takes no lock.
func (s *Switch) Stats() Stats { return s.ctr.snapshot() }
