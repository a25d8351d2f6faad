package alloc

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// ChannelID is the allocator's channel on the mesh.
const ChannelID = 1

// TickInterval is how often a Service ticks its allocator while it has
// work (Allocator.Idle), and IdleTickInterval while it has none: after a
// call or merge that may have given it work, the next tick is at most
// TickInterval away.
const (
	TickInterval     = 500 * time.Millisecond
	IdleTickInterval = 10 * time.Second
)

// Service is an Allocator for a router: safe for concurrent use, ticked
// by its own goroutine, with blocking calls that wait for space from
// peers, and the gossip channel the mesh carries (GossipState,
// GossipMerge, GossipUpdated).
type Service struct {
	mu      sync.Mutex
	a       *Allocator
	changed chan struct{} // closed and replaced on every change: wakes waiters
	updated chan struct{} // one slot: the state changed, gossip it
	kick    chan struct{} // one slot: a call or merge ran, tick soon
	lastErr string        // the latest refused merge
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// NewService builds the allocator and starts its ticker.
func NewService(cfg Config) (*Service, error) {
	a, err := New(cfg)
	if err != nil {
		return nil, err
	}
	s := &Service{a: a, changed: make(chan struct{}), updated: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		quit: make(chan struct{})}
	s.wg.Add(1)
	go s.routineTick()
	return s, nil
}

// Close stops the ticker and wakes every waiter. It is idempotent.
func (s *Service) Close() error {
	s.once.Do(func() {
		close(s.quit)
		s.wg.Wait()
	})
	return nil
}

func (s *Service) routineTick() {
	defer s.wg.Done()
	t := time.NewTimer(TickInterval)
	defer t.Stop()
	due := time.Now().Add(TickInterval)
	for {
		select {
		case <-s.quit:
			return
		case <-s.kick:
			if now := time.Now(); due.Sub(now) > TickInterval {
				due = now.Add(TickInterval)
				t.Reset(TickInterval)
			}
		case <-t.C:
			s.mu.Lock()
			s.a.Tick()
			s.afterLocked()
			next := TickInterval
			if s.a.Idle() {
				next = IdleTickInterval
			}
			s.mu.Unlock()
			// A kick sent by this tick's afterLocked is its own.
			select {
			case <-s.kick:
			default:
			}
			due = time.Now().Add(next)
			t.Reset(next)
		}
	}
}

// afterLocked makes the ticker tick soon, and wakes waiters and the
// gossip layer if the state changed.
func (s *Service) afterLocked() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
	if !s.a.TakeDirty() {
		return
	}
	close(s.changed)
	s.changed = make(chan struct{})
	select {
	case s.updated <- struct{}{}:
	default:
	}
}

// GossipState returns the state to send to peers (nil without a ring).
func (s *Service) GossipState() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.a.Encode()
}

// GossipMerge folds a peer's state into ours.
func (s *Service) GossipMerge(from frame.PeerName, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.a.Merge(b); err != nil {
		if errors.Is(err, ErrDifferentRing) {
			s.lastErr = fmt.Sprintf("state from %s refused: %v", from, err)
		}
		return err
	}
	s.a.Tick()
	s.afterLocked()
	return nil
}

// GossipUpdated is signalled when our state changed and should be sent.
func (s *Service) GossipUpdated() <-chan struct{} { return s.updated }

// Allocate returns key's address in subnet, waiting (until ctx is done)
// for a ring or for a peer to grant space. The error on timeout says what
// it waited for.
func (s *Service) Allocate(ctx context.Context, key string, subnet netip.Prefix) (netip.Addr, error) {
	for {
		s.mu.Lock()
		ad, err := s.a.Allocate(key, subnet)
		s.afterLocked()
		wait := s.changed
		var why string
		if errors.Is(err, ErrPending) {
			why = s.pendingReasonLocked(subnet)
		}
		s.mu.Unlock()
		if err == nil || !(errors.Is(err, ErrPending) || errors.Is(err, ErrNoRing) || errors.Is(err, ErrFresh)) {
			return ad, err
		}
		select {
		case <-wait:
		case <-time.After(TickInterval):
		case <-ctx.Done():
			if why != "" {
				err = fmt.Errorf("%w in %s: %s", err, subnet, why)
			}
			return netip.Addr{}, fmt.Errorf("no address for %s within the timeout: %w", key, err)
		case <-s.quit:
			return netip.Addr{}, ErrClosed
		}
	}
}

// ErrClosed is returned by calls waiting when the Service closes.
var ErrClosed = fmt.Errorf("ipam: %w", net.ErrClosed)

// pendingReasonLocked says who holds free space in subnet.
func (s *Service) pendingReasonLocked(subnet netip.Prefix) string {
	_, owners := s.a.freeElsewhere(usable(subnet).intersect(prefixSpan(s.a.cfg.Universe)))
	var live, dead []string
	for _, o := range owners {
		if s.a.cfg.Alive(o) {
			live = append(live, o.String())
		} else {
			dead = append(dead, o.String())
		}
	}
	switch {
	case len(live) > 0:
		return "asked " + strings.Join(live, ", ") + " for space"
	case len(dead) > 0:
		return "the free space belongs to unreachable peers " + strings.Join(dead, ", ") +
			" (if they are gone for good: weave-switch rmpeer NAME)"
	}
	return "no peer has free space"
}

// Claim records key's explicit address ad. It does not wait: a claim of
// another peer's address completes when the owner grants it
// (ErrPending, or ErrNoRing before there is a ring).
func (s *Service) Claim(key string, ad netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.a.Claim(key, ad)
	s.afterLocked()
	return err
}

// Release frees key's addresses and returns them.
func (s *Service) Release(key string) []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.a.Release(key)
	s.afterLocked()
	return out
}

// Holder is the key ad is allocated to, or claimed by while its space
// is another peer's.
func (s *Service) Holder(ad netip.Addr) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.a.Holder(ad)
}

// Lookup returns key's addresses.
func (s *Service) Lookup(key string) []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.a.Lookup(key)
}

// Universe returns the allocation range.
func (s *Service) Universe() netip.Prefix { return s.a.cfg.Universe }

// RmPeer reclaims the space of dead peers: it proposes the reclaim and
// waits until every other member agreed and it committed, returning the
// number of addresses reclaimed. It refuses (ErrRefused) as Propose does,
// and withdraws the proposal if ctx ends first.
func (s *Service) RmPeer(ctx context.Context, dead []frame.PeerName) (int, error) {
	s.mu.Lock()
	seq, err := s.a.Propose(dead)
	s.afterLocked()
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	for {
		s.mu.Lock()
		s.a.Tick()
		s.afterLocked()
		committed, n, waiting, running := s.a.ProposalStatus(seq)
		wait := s.changed
		s.mu.Unlock()
		switch {
		case committed:
			return n, nil
		case !running:
			return 0, refuse("the reclaim was withdrawn: another peer reclaims the same peers, or one of them came back")
		}
		select {
		case <-wait:
		case <-time.After(TickInterval):
		case <-ctx.Done():
			s.mu.Lock()
			if committed, n, _, _ := s.a.ProposalStatus(seq); committed {
				s.mu.Unlock()
				return n, nil
			}
			s.a.Withdraw(seq)
			s.afterLocked()
			s.mu.Unlock()
			var ws []string
			for _, w := range waiting {
				ws = append(ws, w.String())
			}
			return 0, refuse("not every member agreed in time (waiting for %s); withdrawn", strings.Join(ws, ", "))
		case <-s.quit:
			return 0, ErrClosed
		}
	}
}

// Status is the allocator's state for `status ipam`.
type Status struct {
	Range         string
	DefaultSubnet string
	State         string // "ready", or what it waits for
	Seeds         []string
	Peers         []PeerSpace
	Allocations   map[string][]netip.Addr
	Wants         []string
	Error         string // the latest state refused from a peer
}

// PeerSpace is one member's share of the ring.
type PeerSpace struct {
	Name      frame.PeerName
	Self      bool
	Alive     bool
	Removed   bool
	Ranges    []string // "first-last"
	Addresses uint64
	Free      uint64
	Wants     []string
	Reclaims  []string // peers it is reclaiming
}

// Status returns a snapshot.
func (s *Service) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.a
	st := Status{Range: a.cfg.Universe.String(), DefaultSubnet: DefaultSubnet(a.cfg.Universe).String(),
		Allocations: a.Keys(), Error: s.lastErr}
	for _, w := range a.wants {
		st.Wants = append(st.Wants, w.String())
	}
	switch {
	case a.st == nil:
		st.State = "waiting for the allocation ring from a peer"
		return st
	case a.fresh:
		st.State = "waiting to hear from another member"
	case a.stateUnsaved:
		st.State = "cannot save the allocation ring to the database: allocating nothing"
	default:
		st.State = "ready"
	}
	for _, p := range a.st.Ring.Seeds {
		st.Seeds = append(st.Seeds, p.String())
	}
	byName := map[frame.PeerName]*PeerSpace{}
	get := func(n frame.PeerName) *PeerSpace {
		if ps := byName[n]; ps != nil {
			return ps
		}
		ps := &PeerSpace{Name: n, Self: n == a.self, Alive: n == a.self || a.cfg.Alive(n)}
		byName[n] = ps
		return ps
	}
	r := a.st.Ring
	for i, e := range r.Entries {
		ps := get(e.Owner)
		sp := r.rangeOf(i)
		ps.Addresses += sp.size()
		ps.Free += min(uint64(e.Free), sp.size())
		ps.Ranges = append(ps.Ranges, u32ToAddr(uint32(sp.lo)).String()+"-"+u32ToAddr(uint32(sp.hi-1)).String())
	}
	for n, m := range a.st.Members {
		ps := get(n)
		ps.Removed = m.Removed
		for _, w := range m.Wants {
			ps.Wants = append(ps.Wants, w.String())
		}
		if m.Proposal != nil {
			for _, d := range m.Proposal.Dead {
				ps.Reclaims = append(ps.Reclaims, d.String())
			}
		}
	}
	for _, ps := range byName {
		st.Peers = append(st.Peers, *ps)
	}
	slices.SortFunc(st.Peers, func(x, y PeerSpace) int { return cmp.Compare(x.Name, y.Name) })
	return st
}
