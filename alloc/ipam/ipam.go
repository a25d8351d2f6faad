// Package ipam is the router's address management service: the
// allocator (package alloc) with its database in the data directory,
// the way containers and exposed host addresses get their addresses,
// and the allocator's part of the API and of the metrics.
package ipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
)

// AllocTimeout bounds how long an assignment waits for an address (for
// the ring or for space from a peer), and rmpeerTimeout how long rmpeer
// waits for every member's agreement.
const (
	AllocTimeout  = 20 * time.Second
	rmpeerTimeout = 15 * time.Second
)

// Config configures a Service.
type Config struct {
	Self     frame.PeerName
	Nickname string
	// Range is the range addresses come from.
	Range netip.Prefix
	// Seeds, Yield and Await are alloc.Config's.
	Seeds []frame.PeerName
	Yield bool
	Await bool
	// DataDir holds the allocator's database, ipam.db.
	DataDir string
	Logger  *slog.Logger
}

// Topology is what the Service needs of the mesh: which peers are alive
// now, and the nicknames rmpeer accepts.
type Topology interface {
	Alive(frame.PeerName) bool
	Nicknames() map[frame.PeerName]string
}

// Service owns the allocator and its database. New does no I/O; Start
// opens the database and starts the allocator's ticker; Close stops it
// and closes the database.
type Service struct {
	cfg   Config
	log   *slog.Logger
	def   netip.Prefix
	svc   *alloc.Service
	store *alloc.BoltStore
	topo  atomic.Pointer[Topology]
}

// New builds a Service.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, log: cfg.Logger, def: alloc.DefaultSubnet(cfg.Range)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// DefaultSubnet is the subnet containers get an address in when they
// ask for none.
func (s *Service) DefaultSubnet() netip.Prefix { return s.def }

// SetTopology tells the Service about the mesh, which is built after it
// (the mesh carries the allocator's channel). Until then no peer but
// this one is alive.
func (s *Service) SetTopology(t Topology) { s.topo.Store(&t) }

// Start opens the database and starts the allocator. A damaged database
// gives an *alloc.CorruptError, which says how to start again.
func (s *Service) Start() error {
	store, err := alloc.OpenBolt(filepath.Join(s.cfg.DataDir, "ipam.db"))
	if err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	svc, err := alloc.NewService(alloc.Config{
		Self: s.cfg.Self, Universe: s.cfg.Range, Seeds: s.cfg.Seeds, Yield: s.cfg.Yield, Await: s.cfg.Await, Store: store, Logger: s.log,
		Alive: func(p frame.PeerName) bool {
			t := s.topo.Load()
			return t != nil && (*t).Alive(p)
		},
	})
	if err != nil {
		store.Close()
		if ce := (*alloc.CorruptError)(nil); errors.As(err, &ce) {
			return fmt.Errorf("ipam: %w", ce)
		}
		return fmt.Errorf("ipam: %w", err)
	}
	s.svc, s.store = svc, store
	s.log.Info("ipam", "range", s.cfg.Range.String(), "default_subnet", s.def.String(), "state", svc.Status().State)
	return nil
}

// Close stops the allocator and closes its database. It is idempotent.
func (s *Service) Close() error {
	if s.svc == nil {
		return nil
	}
	err := errors.Join(s.svc.Close(), s.store.Close())
	s.svc, s.store = nil, nil
	return err
}

// Channel is the allocator's CRDT, for the mesh to gossip on
// alloc.ChannelID. It exists once Start succeeded.
func (s *Service) Channel() *alloc.Service { return s.svc }

// Assign works out a container's (or the host's) addresses: explicit
// CIDRs are claimed, so the allocator never hands them out elsewhere,
// and each requested subnet (the default one without any request) gets
// an allocated address, under key, so that asking again finds the same
// ones. undo releases what this call allocated. Errors caused by the
// request are api.BadRequestErrors.
func (s *Service) Assign(ctx context.Context, key string, cidrs []netip.Prefix, specs []string) (out []netip.Prefix, undo func(), err error) {
	svc := s.svc
	had := svc.Lookup(key)
	undo = func() {
		if len(had) == 0 {
			svc.Release(key)
		}
	}
	for _, p := range cidrs {
		switch err := svc.Claim(key, p.Addr()); {
		case errors.Is(err, alloc.ErrInUse):
			undo()
			return nil, nil, &api.BadRequestError{Err: err}
		case errors.Is(err, alloc.ErrNotSaved):
			undo()
			return nil, nil, err
		case err != nil:
			s.log.Info("explicit address not claimed yet", "addr", p.Addr().String(), "why", err)
		}
		out = append(out, p)
	}
	if len(specs) == 0 && len(cidrs) == 0 {
		specs = []string{"net:default"}
	}
	ctx, cancel := context.WithTimeout(ctx, AllocTimeout)
	defer cancel()
	for _, spec := range specs {
		sub, err := alloc.ParseSubnet(svc.Universe(), s.def, spec)
		if err != nil {
			undo()
			return nil, nil, &api.BadRequestError{Err: err}
		}
		ad, err := svc.Allocate(ctx, key, sub)
		if err != nil {
			undo()
			if errors.Is(err, alloc.ErrExhausted) {
				err = &api.BadRequestError{Err: err}
			}
			return nil, nil, err
		}
		if p := netip.PrefixFrom(ad, sub.Bits()); !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, undo, nil
}

// Holder is the key ad is allocated to, or claimed by while the peer
// owning its space has not granted it yet.
func (s *Service) Holder(ad netip.Addr) (string, bool) { return s.svc.Holder(ad) }

// Release frees key's addresses.
func (s *Service) Release(key string) []netip.Addr {
	freed := s.svc.Release(key)
	if len(freed) > 0 {
		s.log.Info("addresses released", "key", key, "addrs", freed)
	}
	return freed
}

// Status is the allocator's part of the API status.
func (s *Service) Status() *api.IPAMStatus {
	st := s.svc.Status()
	nick := s.nicknames()
	out := &api.IPAMStatus{Range: st.Range, DefaultSubnet: st.DefaultSubnet, State: st.State, Seeds: st.Seeds,
		Wants: st.Wants, Error: st.Error, Peers: []api.IPAMPeer{}, Allocations: []api.IPAMAllocation{}}
	for _, p := range st.Peers {
		out.Peers = append(out.Peers, api.IPAMPeer{Name: p.Name.String(), Nickname: nick[p.Name], Self: p.Self, Reachable: p.Alive,
			Removed: p.Removed, Ranges: p.Ranges, Addresses: p.Addresses, Free: p.Free, Wants: p.Wants, Reclaiming: p.Reclaims})
	}
	for k, as := range st.Allocations {
		out.Allocations = append(out.Allocations, api.IPAMAllocation{Key: k, Addrs: as})
	}
	slices.SortFunc(out.Allocations, func(a, b api.IPAMAllocation) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// nicknames are the topology's nicknames and this router's own.
func (s *Service) nicknames() map[frame.PeerName]string {
	out := map[frame.PeerName]string{}
	if t := s.topo.Load(); t != nil {
		out = (*t).Nicknames()
	}
	out[s.cfg.Self] = s.cfg.Nickname
	return out
}

// RmPeer implements the API's rmpeer: it reclaims the address space of
// dead peers, named by peer name or nickname.
func (s *Service) RmPeer(ctx context.Context, req api.RmPeerRequest) (api.RmPeerResponse, error) {
	if len(req.Names) == 0 {
		return api.RmPeerResponse{}, &api.BadRequestError{Err: errors.New("rmpeer: name at least one peer")}
	}
	nick := s.nicknames()
	var dead []frame.PeerName
	for _, n := range req.Names {
		p, err := ResolvePeer(n, nick)
		if err != nil {
			return api.RmPeerResponse{}, &api.BadRequestError{Err: fmt.Errorf("rmpeer: %w", err)}
		}
		dead = append(dead, p)
	}
	ctx, cancel := context.WithTimeout(ctx, rmpeerTimeout)
	defer cancel()
	n, err := s.svc.RmPeer(ctx, dead)
	if err != nil {
		if errors.Is(err, alloc.ErrRefused) {
			err = &api.BadRequestError{Err: err}
		}
		return api.RmPeerResponse{}, err
	}
	s.log.Info("rmpeer: reclaimed the space of dead peers", "peers", req.Names, "addresses", n)
	return api.RmPeerResponse{Reclaimed: n}, nil
}

// ResolvePeer reads a peer name, or a nickname of exactly one known
// peer (nick maps the known peers to their nicknames).
func ResolvePeer(s string, nick map[frame.PeerName]string) (frame.PeerName, error) {
	if p, err := frame.ParsePeerName(s); err == nil {
		return p, nil
	}
	var found []frame.PeerName
	for p, n := range nick {
		if n == s {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%q is neither a peer name nor the nickname of a known peer", s)
	case 1:
		return found[0], nil
	}
	slices.Sort(found)
	names := make([]string, len(found))
	for i, p := range found {
		names[i] = p.String()
	}
	return 0, fmt.Errorf("nickname %q is ambiguous (%s): give the peer name", s, strings.Join(names, ", "))
}

// leaveTimeout bounds how long Leave waits for a peer to confirm the
// handover.
const leaveTimeout = 15 * time.Second

// Leave hands this router's address ranges to a live peer and takes it
// out of the allocation ring (see alloc.Allocator.Leave), waiting for a
// peer to confirm. It returns the heir's name ("" when there was nobody
// to hand to: no ring, or this router is its only member) and how many
// addresses it got.
func (s *Service) Leave(ctx context.Context) (heir string, handed uint64, err error) {
	if s.svc == nil {
		return "", 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, leaveTimeout)
	defer cancel()
	p, n, err := s.svc.Leave(ctx)
	if p != frame.UnknownPeer {
		heir = p.String()
		if nick := s.nicknames()[p]; nick != "" {
			heir += "(" + nick + ")"
		}
	}
	if err != nil {
		return heir, n, err
	}
	if heir != "" {
		s.log.Info("left the allocation ring: address ranges handed over", "heir", heir, "addresses", n)
	}
	return heir, n, nil
}
