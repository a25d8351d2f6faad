package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/net/netutil"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// Defaults of Config.
const (
	DefaultDomain         = "weave.local."
	DefaultTTL            = time.Second
	DefaultResolvConf     = "/etc/resolv.conf"
	DefaultForwardTimeout = 2 * time.Second
	DefaultMaxForwards    = 256
	DefaultMaxTCPConns    = 64
	// StateFile is the registry's file in Config.DataDir.
	StateFile = "dns.state"
)

// maxUDPSize is the largest UDP answer this server sends (and the EDNS0
// buffer size it advertises).
const maxUDPSize = 4096

// Config configures a Service. The zero value of each field but Self and
// Listen means its default.
type Config struct {
	// Self is this router's peer name. Required.
	Self frame.PeerName
	// Listen is the address served on UDP and TCP. Port 0 picks a free
	// port (the same for TCP as for UDP), for tests. If invalid, Bridge
	// says where to serve.
	Listen netip.AddrPort
	// Bridge, when Listen is invalid, is the bridge whose IPv4 addresses
	// are served on BridgePort, each as it comes and goes: the upkeep
	// loop looks every second (and when Nameserver finds an address it
	// does not serve yet). An address that cannot be bound is logged and
	// tried again; a bridge with no IPv4 address serves nothing.
	Bridge string
	// BridgePort is the port served on the bridge's addresses. If zero,
	// 53.
	BridgePort uint16
	// BridgeAddrs lists a bridge's addresses; required with Bridge (the
	// router gives the host's, tests their own).
	BridgeAddrs func(bridge string) ([]netip.Prefix, error)
	// Domain is the domain answered from the registry. If empty,
	// DefaultDomain.
	Domain string
	// TTL of every answer from the registry. If zero, DefaultTTL.
	TTL time.Duration
	// ResolvConf is the file naming the upstream resolvers, read at
	// Start and again when it changes. If empty, DefaultResolvConf.
	ResolvConf string
	// ForwardTimeout bounds one exchange with one upstream resolver. If
	// zero, DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// MaxForwards bounds the queries being forwarded at once; a query
	// beyond it is dropped and counted. If zero, DefaultMaxForwards.
	MaxForwards int
	// MaxTCPConns bounds the TCP connections served at once. If zero,
	// DefaultMaxTCPConns.
	MaxTCPConns int
	// Now is the clock register stamps and tombstones are dated by. If
	// nil, time.Now.
	Now func() time.Time
	// DataDir holds the registry's state (StateFile), kept across a
	// restart. If empty, nothing is saved.
	DataDir string
	// Logger; if nil, nothing is logged.
	Logger *slog.Logger
}

// Service is the router's DNS server and the mesh-wide name registry it
// answers from. New does no I/O; Start loads the saved registry, binds
// UDP and TCP on Listen (or on each of the bridge's IPv4 addresses),
// reads the upstream resolvers and starts the servers and the upkeep
// loop; Close undoes it and is idempotent. The
// registry (Registry) is the mesh channel to gossip on ChannelID; it
// exists from New. Methods are safe for concurrent use.
type Service struct {
	cfg    Config
	domain string
	ttl    uint32
	log    *slog.Logger
	reg    *Registry

	upstreams atomic.Pointer[[]string]
	addr      atomic.Pointer[netip.AddrPort]
	nicks     atomic.Pointer[Nicknames]
	sem       chan struct{}
	udpClient *mdns.Client
	tcpClient *mdns.Client
	stats     counters

	mu         sync.Mutex
	started    bool
	closed     bool
	stop       chan struct{}
	upkeepDone chan struct{}
	kick       chan struct{} // asks the upkeep loop to look at the bridge now
	wg         sync.WaitGroup

	// bmu guards the bindings and what the bridge was last seen with.
	// Only Start, the upkeep loop and Close change them.
	bmu      sync.Mutex
	bindings map[netip.AddrPort]*binding
	bridge   []netip.Prefix        // the bridge's IPv4 addresses, last look
	failed   map[netip.Addr]string // bridge addresses that failed to bind, with the error logged
	bridgeOK bool                  // the last look found the bridge and an IPv4 address on it
	looked   bool                  // the bridge was looked at once
}

// binding is one address served: a UDP and a TCP server on it.
type binding struct {
	addr     netip.AddrPort
	udp, tcp *mdns.Server
}

// ChannelID is the DNS registry's channel on the mesh (the IP
// allocator's is 1, the allowed pairs' 2).
const ChannelID = 3

// New checks cfg and builds a Service; it does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Self == frame.UnknownPeer {
		return nil, errors.New("dns: no peer name")
	}
	if !cfg.Listen.IsValid() && cfg.Bridge == "" {
		return nil, errors.New("dns: no listen address and no bridge")
	}
	domain, err := CanonicalDomain(cmp.Or(cfg.Domain, DefaultDomain))
	if err != nil {
		return nil, fmt.Errorf("dns: %w", err)
	}
	ttl := cmp.Or(cfg.TTL, DefaultTTL)
	if ttl < time.Second || ttl > 24*time.Hour {
		return nil, fmt.Errorf("dns: TTL %s is not between 1s and 24h", ttl)
	}
	cfg.ResolvConf = cmp.Or(cfg.ResolvConf, DefaultResolvConf)
	cfg.ForwardTimeout = cmp.Or(cfg.ForwardTimeout, DefaultForwardTimeout)
	cfg.MaxForwards = cmp.Or(cfg.MaxForwards, DefaultMaxForwards)
	cfg.MaxTCPConns = cmp.Or(cfg.MaxTCPConns, DefaultMaxTCPConns)
	cfg.BridgePort = cmp.Or(cfg.BridgePort, 53)
	if !cfg.Listen.IsValid() && cfg.BridgeAddrs == nil {
		return nil, errors.New("dns: serving a bridge needs BridgeAddrs")
	}
	s := &Service{cfg: cfg, domain: domain, ttl: uint32(ttl / time.Second), log: cfg.Logger,
		reg: NewRegistry(cfg.Self), sem: make(chan struct{}, cfg.MaxForwards),
		bindings: map[netip.AddrPort]*binding{}, failed: map[netip.Addr]string{}, kick: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.udpClient = &mdns.Client{Net: "udp", Timeout: cfg.ForwardTimeout, UDPSize: maxUDPSize}
	s.tcpClient = &mdns.Client{Net: "tcp", Timeout: cfg.ForwardTimeout}
	s.reg.Now = cfg.Now
	if cfg.DataDir != "" {
		path := filepath.Join(cfg.DataDir, StateFile)
		s.reg.Save = func(b []byte) error { return atomicfile.Write(path, b, 0o600) }
	}
	return s, nil
}

// Registry is the name registry: the mesh channel to gossip on
// ChannelID.
func (s *Service) Registry() *Registry { return s.reg }

// Domain is the domain the Service answers for, canonical.
func (s *Service) Domain() string { return s.domain }

// Addr is the address served with an explicit Config.Listen, once
// started (with the port picked for port 0); invalid when serving the
// bridge's addresses (see Serving).
func (s *Service) Addr() netip.AddrPort {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// Serving lists the addresses served now, sorted.
func (s *Service) Serving() []netip.AddrPort {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	out := make([]netip.AddrPort, 0, len(s.bindings))
	for ap := range s.bindings {
		out = append(out, ap)
	}
	slices.SortFunc(out, func(a, b netip.AddrPort) int { return a.Compare(b) })
	return out
}

// bridgeMode reports whether the Service serves the bridge's addresses
// rather than Config.Listen.
func (s *Service) bridgeMode() bool { return !s.cfg.Listen.IsValid() }

// SetLiveness tells the registry which peers are alive (the mesh, built
// after the Service). Until then no peer's names are dropped as gone.
func (s *Service) SetLiveness(l Liveness) { s.reg.SetLiveness(l) }

// Start loads the saved names, binds UDP and TCP, reads the upstream
// resolvers and starts serving. On failure it undoes what it did. With
// an explicit Listen, failing to bind it fails Start; on the bridge's
// addresses, a failure is logged and tried again every second.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("dns: started twice")
	}
	if err := s.load(); err != nil {
		return err
	}
	s.stop = make(chan struct{})
	s.upkeepDone = make(chan struct{})
	if s.bridgeMode() {
		s.syncBridge()
	} else {
		b, err := s.bind(s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("dns: %w", err)
		}
		s.bmu.Lock()
		s.bindings[b.addr] = b
		s.bmu.Unlock()
		s.addr.Store(&b.addr)
	}
	var rc fileStamp
	rc.get(s.cfg.ResolvConf)
	s.reloadUpstreams(nil)
	go s.routineUpkeep(rc)
	s.started = true
	listen := s.Addr().String()
	if s.bridgeMode() {
		listen = fmt.Sprintf("bridge %s port %d", s.cfg.Bridge, s.cfg.BridgePort)
	}
	s.log.Info("dns: serving", "listen", listen, "serving", s.Serving(), "domain", s.domain,
		"upstreams", *s.upstreams.Load(), "entries", s.reg.Len())
	return nil
}

// bind serves UDP and TCP on ap (port 0: a free port, the same for
// both) and waits for both servers to run; on failure nothing is left.
func (s *Service) bind(ap netip.AddrPort) (*binding, error) {
	pc, ln, err := listen(ap)
	if err != nil {
		return nil, err
	}
	b := &binding{addr: netip.AddrPortFrom(ap.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))}
	b.udp = &mdns.Server{PacketConn: pc, Handler: s, UDPSize: maxUDPSize}
	b.tcp = &mdns.Server{Listener: netutil.LimitListener(ln, s.cfg.MaxTCPConns), Handler: s,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 128}
	for _, srv := range []*mdns.Server{b.udp, b.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		s.wg.Add(1)
		go s.routineServe(b.addr, srv, errc)
		select {
		case <-started:
		case err := <-errc:
			b.close()
			return nil, fmt.Errorf("serve %s: %w", b.addr, err)
		}
	}
	return b, nil
}

// close stops the binding's servers, or closes the sockets of a server
// that never started.
func (b *binding) close() {
	for _, srv := range []*mdns.Server{b.udp, b.tcp} {
		if srv.Shutdown() != nil {
			if srv.PacketConn != nil {
				srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				srv.Listener.Close()
			}
		}
	}
}

// syncBridge serves each IPv4 address the bridge has and stops serving
// those it no longer has. Failures are logged once each and tried again
// at the next call.
func (s *Service) syncBridge() {
	prefixes, err := s.cfg.BridgeAddrs(s.cfg.Bridge)
	var v4 []netip.Prefix
	for _, p := range prefixes {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		}
	}
	want := map[netip.AddrPort]bool{}
	for _, p := range v4 {
		want[netip.AddrPortFrom(p.Addr(), s.cfg.BridgePort)] = true
	}
	s.bmu.Lock()
	defer s.bmu.Unlock()
	ok := err == nil && len(v4) > 0
	if !s.looked || ok != s.bridgeOK {
		switch {
		case err != nil:
			s.log.Warn("dns: cannot list the bridge's addresses; serving none until it has one", "bridge", s.cfg.Bridge, "err", err)
		case !ok:
			s.log.Warn("dns: the bridge has no IPv4 address; serving nothing until it has one (weave-switch expose gives it one)", "bridge", s.cfg.Bridge)
		}
	}
	s.looked, s.bridgeOK, s.bridge = true, ok, v4
	for ap, b := range s.bindings {
		if !want[ap] {
			b.close()
			delete(s.bindings, ap)
			s.log.Info("dns: the bridge lost the address; no longer served", "addr", ap.String())
		}
	}
	for a := range s.failed {
		if !want[netip.AddrPortFrom(a, s.cfg.BridgePort)] {
			delete(s.failed, a)
		}
	}
	for _, p := range v4 {
		ap := netip.AddrPortFrom(p.Addr(), s.cfg.BridgePort)
		if s.bindings[ap] != nil {
			continue
		}
		b, err := s.bind(ap)
		if err != nil {
			if s.failed[ap.Addr()] != err.Error() {
				s.failed[ap.Addr()] = err.Error()
				s.log.Warn("dns: cannot serve a bridge address; trying again every second", "addr", ap.String(), "err", err)
			}
			continue
		}
		delete(s.failed, ap.Addr())
		s.bindings[ap] = b
		s.log.Info("dns: serving a bridge address", "addr", ap.String())
	}
}

// bridgePrefixes is the bridge's IPv4 addresses as last seen.
func (s *Service) bridgePrefixes() []netip.Prefix {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	return slices.Clone(s.bridge)
}

func (s *Service) routineServe(addr netip.AddrPort, srv *mdns.Server, errc chan<- error) {
	defer s.wg.Done()
	proto := "udp"
	if srv.Listener != nil {
		proto = "tcp"
	}
	s.log.Debug("dns: routineServe started", "addr", addr.String(), "net", proto)
	defer s.log.Debug("dns: routineServe stopped", "addr", addr.String(), "net", proto)
	if err := srv.ActivateAndServe(); err != nil {
		errc <- err
	}
}

// routineUpkeep sweeps gone peers' names, re-reads the resolvers when the
// file changes, saves the registry after gossip changed it and follows
// the bridge's addresses.
func (s *Service) routineUpkeep(rc fileStamp) {
	defer close(s.upkeepDone)
	s.log.Debug("dns: routineUpkeep started")
	defer s.log.Debug("dns: routineUpkeep stopped")
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.reg.Changed():
			if err := s.reg.Persist(); err != nil {
				s.log.Error("dns: names not saved", "err", err)
			}
		case <-s.kick:
			s.syncBridge()
		case <-tick.C:
			if s.bridgeMode() {
				s.syncBridge()
			}
			s.reg.Sweep()
			if rc.changed(s.cfg.ResolvConf) {
				s.reloadUpstreams(nil)
				s.log.Info("dns: upstream resolvers re-read", "file", s.cfg.ResolvConf, "upstreams", *s.upstreams.Load())
			}
		}
	}
}

// Close stops serving and the loop, and saves the registry. It is
// idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if !s.started {
		return nil
	}
	return s.closeLocked()
}

func (s *Service) closeLocked() error {
	var errs []error
	close(s.stop)
	<-s.upkeepDone
	s.bmu.Lock()
	for ap, b := range s.bindings {
		b.close()
		delete(s.bindings, ap)
	}
	s.bmu.Unlock()
	s.wg.Wait()
	if err := s.reg.Persist(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// load restores the saved registry. A file that does not decode is moved
// aside (the mesh gossips the names back) and logged.
func (s *Service) load() error {
	if s.cfg.DataDir == "" {
		return nil
	}
	path := filepath.Join(s.cfg.DataDir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	if err := s.reg.Restore(b); err != nil {
		aside := path + ".corrupt"
		s.log.Error("dns: saved names do not decode; moved aside, this router's own names are lost", "file", path, "moved_to", aside, "err", err)
		if err := os.Rename(path, aside); err != nil {
			return fmt.Errorf("dns: %s does not decode and cannot be moved aside: %w", path, err)
		}
	}
	return nil
}

// listen binds UDP and TCP on the same address and port. The sockets
// are bound with IP_FREEBIND: an explicit listen address (the bridge's)
// may be added after the server starts, or come and go, and the server
// answers as soon as it is there. With port 0 the UDP socket picks the
// port, and the TCP one can find it taken (by any TCP socket, one
// connecting out included): then another port is picked, a few times.
func listen(ap netip.AddrPort) (net.PacketConn, net.Listener, error) {
	lc := net.ListenConfig{Control: freebind}
	ctx := context.Background()
	for try := 1; ; try++ {
		pc, err := lc.ListenPacket(ctx, "udp", ap.String())
		if err != nil {
			return nil, nil, err
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(ap.Addr(), uint16(port)).String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if ap.Port() != 0 || !errors.Is(err, syscall.EADDRINUSE) || try == 8 {
			return nil, nil, err
		}
	}
}
