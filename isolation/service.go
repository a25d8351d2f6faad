package isolation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// applyTimeout bounds one nft transaction.
const applyTimeout = 10 * time.Second

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Self is this router's peer name: it signs the allowed pairs it
	// gossips.
	Self frame.PeerName
	// Bridge is the weave bridge whose ports are filtered. Required.
	Bridge string
	// Isolate turns the filter on; without it only NAT rules are made,
	// once NAT is asked for.
	Isolate bool
	// Trusted are the router's own ports on the bridge: its TAP and the
	// fast path's ports (whether or not they exist yet). With Isolate,
	// every other port Start finds on the bridge sends nothing into it
	// until it is a container port (SetPort, or restored from the state
	// file): see Ruleset.Unknown.
	Trusted []string
	// Allow are pairs this router lets through on its own, besides the
	// mesh's.
	Allow []Pair
	// DataDir keeps the state across a crash and the mesh's allowed
	// pairs across restarts. If empty, nothing is kept.
	DataDir string
	// NFT runs nft; the zero value runs the nft binary.
	NFT NFT
	// Addresses allocates the addresses Expose gives the host. Required
	// for Expose and Hide.
	Addresses Addresses
	// Now is the clock the allowed pairs' tombstones are dated by. If
	// nil, time.Now.
	Now func() time.Time
	// Logger; if nil, silent.
	Logger *slog.Logger
}

// Addresses is the address allocator, as exposing the host needs it.
type Addresses interface {
	// Assign gives key the explicit cidrs (claimed, so that they are
	// never handed out elsewhere) and an address in each subnet spec
	// ("net:CIDR", "app:NAME", "net:default"). undo releases what this
	// call allocated.
	Assign(ctx context.Context, key string, cidrs []netip.Prefix, specs []string) (out []netip.Prefix, undo func(), err error)
	// Release frees key's addresses.
	Release(key string) []netip.Addr
}

// Service owns the router's nftables tables for its bridge and the state
// they are built from: container ports, allowed pairs, exposed addresses
// and forwardings. Every change rebuilds the whole Ruleset and applies it
// in one nft transaction under mu, so changes are serialised and the
// kernel always holds one consistent policy.
//
// A change is saved to the state file before it reaches the kernel, so
// the file is never behind the kernel: after a crash the next run
// enforces at least what the kernel had. A change that cannot be saved,
// or that nft refuses, fails and leaves the kernel, the state and the
// file as they were.
//
// The mesh-wide allowed pairs (Pairs) are a gossiped CRDT; a merge from
// another router wakes the Service's goroutine, which applies them (the
// merge runs on the mesh's actor, which must not wait for nft).
type Service struct {
	cfg       ServiceConfig
	log       *slog.Logger
	file      string // host-side state, kept while the router runs
	pairsFile string // the mesh's allowed pairs

	pairs *AllowSet
	kick  chan struct{}
	stop  chan struct{}
	done  sync.WaitGroup

	mu      sync.Mutex
	started bool
	ports   map[string]Port // by host veth
	// unknown are the ports Start found on the bridge that were neither
	// trusted nor container ports; dropped until SetPort.
	unknown map[string]bool
	// applied are the pairs the kernel's rules let through now.
	applied  []Pair
	exposed  []Exposed
	forwards []Forward
	// exposeKeys are the allocator keys of the exposed addresses.
	exposeKeys map[netip.Prefix]string
	// fwdPrev is IPv4 forwarding ("0" or "1") before the NAT rules
	// needed it on, kept in the state file so that a later run restores
	// it even after a crash; "" while no NAT rule needs forwarding.
	fwdPrev string
}

// NewService builds a Service; it does no I/O until Start.
func NewService(cfg ServiceConfig) *Service {
	s := &Service{cfg: cfg, log: cfg.Logger, ports: map[string]Port{}, exposeKeys: map[netip.Prefix]string{},
		kick: make(chan struct{}, 1), stop: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir != "" {
		s.file = filepath.Join(cfg.DataDir, StateFile)
		s.pairsFile = filepath.Join(cfg.DataDir, "allowed-pairs")
	}
	s.pairs = NewAllowSet(cfg.Self, func() {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	})
	s.pairs.Now = cfg.Now
	return s
}

// Pairs is the mesh-wide set of allowed pairs, for the mesh to gossip
// on AllowChannelID.
func (s *Service) Pairs() *AllowSet { return s.pairs }

// Start replaces whatever tables an earlier run left for the bridge with
// this run's policy: the ports, exposed addresses and forwardings of a
// run that crashed (whose veths still exist) and the saved allowed pairs.
// With isolation on, nft and the kernel's bridge filtering are required;
// without, they are needed only once NAT is asked for.
func (s *Service) Start(ctx context.Context) error {
	if s.pairsFile != "" {
		if b, err := os.ReadFile(s.pairsFile); err == nil {
			if err := s.pairs.Restore(b); err != nil {
				s.log.Warn("allowed pairs not restored", "file", s.pairsFile, "err", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	if s.cfg.Isolate {
		if err := s.cfg.NFT.Check(ctx); err != nil {
			return fmt.Errorf("isolation: %w (install nftables, or run with --no-isolation)", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.loadLocked()
	if err == nil {
		s.findUnknownLocked()
		if len(s.ports)+len(s.exposed) > 0 {
			s.log.Info("restored the host side of an earlier run", "ports", len(s.ports), "exposed", len(s.exposed), "forwards", len(s.forwards))
		}
		_, err = s.commitLocked(ctx)
	}
	if err != nil && (s.cfg.Isolate || !errors.Is(err, ErrNoNFT)) {
		// The state file stays: the next start enforces it.
		s.removeLocked(false)
		return fmt.Errorf("isolation: %w", err)
	}
	s.started = true
	s.done.Add(1)
	go s.routineApplyPairs()
	s.log.Info("host side ready", "isolation", s.cfg.Isolate, "allowed", len(s.cfg.Allow), "table", TableName(s.cfg.Bridge))
	return nil
}

// findUnknownLocked lists the bridge's ports that are neither trusted
// nor container ports, so that they send nothing into the bridge until
// attached, and says which they are. s.mu is held.
func (s *Service) findUnknownLocked() {
	if !s.cfg.Isolate || len(s.cfg.Trusted) == 0 {
		return
	}
	ports, err := host.BridgePorts(s.cfg.Bridge)
	if err != nil {
		s.log.Warn("cannot list the bridge's ports: ports that are not attached stay unfiltered", "err", err)
		return
	}
	var unknown []string
	for _, p := range ports {
		if _, ok := s.ports[p]; !ok && !slices.Contains(s.cfg.Trusted, p) {
			unknown = append(unknown, p)
		}
	}
	s.unknown = map[string]bool{}
	for _, p := range unknown {
		s.unknown[p] = true
	}
	if len(unknown) > 0 {
		s.log.Warn("unknown ports on the bridge: their frames are dropped until they are attached", "bridge", s.cfg.Bridge, "ports", unknown)
	}
}

// Close stops the Service's goroutine, removes its tables and exposed
// addresses and restores IPv4 forwarding. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	started := s.started
	s.started = false
	s.mu.Unlock()
	if !started {
		return nil
	}
	close(s.stop)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeLocked(true)
	return nil
}

// removeLocked undoes what Start and the changes since put into the
// kernel, and removes the state file if clean. s.mu is held.
func (s *Service) removeLocked(clean bool) {
	ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
	defer cancel()
	if err := s.cfg.NFT.Apply(ctx, DeleteScript(s.cfg.Bridge)); err != nil && !errors.Is(err, ErrNoNFT) {
		s.log.Warn("remove nftables tables", "err", err)
	}
	for _, e := range s.exposed {
		if err := host.DelBridgeAddr(s.cfg.Bridge, e.Addr); err != nil {
			s.log.Warn("hide", "addr", e.Addr, "err", err)
		}
	}
	s.exposed = nil
	if s.fwdPrev != "" && s.fwdPrev != "1" {
		if err := host.RestoreIPForward(s.fwdPrev); err != nil {
			s.log.Warn("restore IPv4 forwarding", "err", err)
		}
	}
	s.fwdPrev = ""
	if clean && s.file != "" {
		_ = os.Remove(s.file)
	}
}

// rulesetLocked builds the Ruleset of the current state. s.mu is held.
func (s *Service) rulesetLocked() Ruleset {
	r := Ruleset{Bridge: s.cfg.Bridge, Isolate: s.cfg.Isolate}
	for _, name := range slices.Sorted(maps.Keys(s.unknown)) {
		if _, ok := s.ports[name]; !ok {
			r.Unknown = append(r.Unknown, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.ports)) {
		r.Policy.Ports = append(r.Policy.Ports, s.ports[name])
	}
	r.Policy.Allow = s.allowedLocked()
	r.NAT = NAT{Exposed: slices.Clone(s.exposed), Forwards: slices.Clone(s.forwards)}
	return r
}

// commitLocked saves the current state, then puts it into the kernel:
// the nft transaction, and IPv4 forwarding on while NAT needs it (its
// previous value saved first) and back to that value once no NAT rule
// needs it. On error the kernel's rules are as before (nft applies a
// transaction whole or not at all), but if saved the file, and
// forwarding, may hold the new state: change puts them back. s.mu is
// held.
func (s *Service) commitLocked(ctx context.Context) (saved bool, err error) {
	r := s.rulesetLocked()
	if err := r.Validate(); err != nil {
		return false, err
	}
	needFwd := r.NAT.NeedsForwarding()
	if needFwd && s.fwdPrev == "" {
		prev, err := host.IPForward()
		if err != nil {
			return false, err
		}
		s.fwdPrev = prev
	}
	if err := s.saveLocked(); err != nil {
		return false, err
	}
	if needFwd {
		prev, err := host.EnableIPForward()
		if err != nil {
			return true, err
		}
		if prev == "0" {
			s.log.Info("turned IPv4 forwarding on for NAT (restored when no NAT rule needs it)")
		}
	}
	if err := s.cfg.NFT.Apply(ctx, r.Script()); err != nil {
		return true, err
	}
	s.applied = r.Policy.Allow
	if !needFwd && s.fwdPrev != "" {
		if s.fwdPrev != "1" {
			if err := host.RestoreIPForward(s.fwdPrev); err != nil {
				// The file still names the value: the next start or Close
				// tries again.
				s.log.Warn("restore IPv4 forwarding", "err", err)
				return true, nil
			}
			s.log.Info("IPv4 forwarding restored: no NAT rule needs it")
		}
		s.fwdPrev = ""
		if err := s.saveLocked(); err != nil {
			s.log.Warn("host side state not saved", "err", err)
		}
	}
	return true, nil
}

// change runs mutate on the state and commits the result. If mutate
// fails, or the state cannot be saved, or nft refuses the rules, the
// state, the file, the kernel's rules and IPv4 forwarding go back to
// what they were.
func (s *Service) change(ctx context.Context, mutate func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	saved := struct {
		ports    map[string]Port
		exposed  []Exposed
		forwards []Forward
		keys     map[netip.Prefix]string
		fwdPrev  string
	}{maps.Clone(s.ports), slices.Clone(s.exposed), slices.Clone(s.forwards), maps.Clone(s.exposeKeys), s.fwdPrev}
	restore := func() {
		s.ports, s.exposed, s.forwards, s.exposeKeys = saved.ports, saved.exposed, saved.forwards, saved.keys
	}
	if err := mutate(); err != nil {
		restore()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	if wrote, err := s.commitLocked(ctx); err != nil {
		if saved.fwdPrev == "" && s.fwdPrev != "" && s.fwdPrev != "1" {
			if err := host.RestoreIPForward(s.fwdPrev); err != nil {
				s.log.Warn("restore IPv4 forwarding", "err", err)
			}
		}
		restore()
		s.fwdPrev = saved.fwdPrev
		if !wrote {
			return err
		}
		if err2 := s.saveLocked(); err2 != nil {
			// The kernel holds the old rules, the file the refused
			// state: the next start enforces the file.
			s.log.Error("host side state file not put back after a failed change", "err", err2)
			return fmt.Errorf("%w (and the state file was not put back: %v)", err, err2)
		}
		return err
	}
	return nil
}

// allowedLocked is every allowed pair: this router's own and the mesh's.
// s.mu is held.
func (s *Service) allowedLocked() []Pair {
	out := slices.Clone(s.cfg.Allow)
	for _, p := range s.pairs.Allowed() {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// routineApplyPairs applies the rules again whenever another router's
// allow or deny reached this one.
func (s *Service) routineApplyPairs() {
	defer s.done.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.kick:
		}
		if err := s.change(context.Background(), func() error { return nil }); err != nil {
			s.log.Error("apply allowed pairs from the mesh", "err", err)
			continue
		}
		s.savePairs()
		s.mu.Lock()
		n := len(s.allowedLocked())
		s.mu.Unlock()
		s.log.Info("allowed pairs changed by the mesh", "allowed", n)
	}
}

// savePairs keeps the mesh's allowed pairs in the data directory, so
// that they survive a restart of the whole cluster.
func (s *Service) savePairs() {
	st := s.pairs.State()
	if st == nil || s.pairsFile == "" {
		return
	}
	if err := atomicfile.Write(s.pairsFile, st, 0o600); err != nil {
		s.log.Warn("save allowed pairs", "err", err)
	}
}

// SetPort installs the rules of a container port before its veth exists
// or comes up, so that it never sends a frame unfiltered. It returns an
// undo that restores the port's previous rules.
func (s *Service) SetPort(ctx context.Context, pt Port) (undo func(), err error) {
	var old Port
	var had bool
	err = s.change(ctx, func() error {
		old, had = s.ports[pt.Ifname]
		s.ports[pt.Ifname] = pt
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("isolation rules for %s: %w", pt.Ifname, err)
	}
	s.mu.Lock()
	delete(s.unknown, pt.Ifname) // known from now on
	s.mu.Unlock()
	return func() {
		_ = s.change(context.Background(), func() error {
			if had {
				s.ports[pt.Ifname] = old
			} else {
				delete(s.ports, pt.Ifname)
			}
			return nil
		})
	}, nil
}

// RemovePort removes a detached container's rules.
func (s *Service) RemovePort(ctx context.Context, ifname string) error {
	return s.change(ctx, func() error { delete(s.ports, ifname); return nil })
}
