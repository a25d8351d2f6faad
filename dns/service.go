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
	"sync"
	"sync/atomic"
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
	// are served on port 53, each as it comes and goes.
	Bridge string
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
	// DataDir holds the registry's state (StateFile), kept across a
	// restart. If empty, nothing is saved.
	DataDir string
	// Logger; if nil, nothing is logged.
	Logger *slog.Logger
}

// Service is the router's DNS server and the mesh-wide name registry it
// answers from. New does no I/O; Start loads the saved registry, binds
// UDP and TCP on Listen, reads the upstream resolvers and starts the
// servers and the upkeep loop; Close undoes it and is idempotent. The
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

	mu      sync.Mutex
	started bool
	closed  bool
	udp     *mdns.Server
	tcp     *mdns.Server
	stop    chan struct{}
	wg      sync.WaitGroup
}

// ChannelID is the DNS registry's channel on the mesh (the IP
// allocator's is 1, the allowed pairs' 2).
const ChannelID = 3

// New checks cfg and builds a Service; it does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Self == frame.UnknownPeer {
		return nil, errors.New("dns: no peer name")
	}
	if !cfg.Listen.IsValid() {
		return nil, errors.New("dns: no listen address")
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
	s := &Service{cfg: cfg, domain: domain, ttl: uint32(ttl / time.Second), log: cfg.Logger,
		reg: NewRegistry(cfg.Self), sem: make(chan struct{}, cfg.MaxForwards)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.udpClient = &mdns.Client{Net: "udp", Timeout: cfg.ForwardTimeout, UDPSize: maxUDPSize}
	s.tcpClient = &mdns.Client{Net: "tcp", Timeout: cfg.ForwardTimeout}
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

// Addr is the address served, once started (with the port picked for
// port 0).
func (s *Service) Addr() netip.AddrPort {
	if p := s.addr.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// SetLiveness tells the registry which peers are alive (the mesh, built
// after the Service). Until then no peer's names are dropped as gone.
func (s *Service) SetLiveness(l Liveness) { s.reg.SetLiveness(l) }

// Start loads the saved names, binds UDP and TCP, reads the upstream
// resolvers and starts serving. On failure it undoes what it did.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("dns: started twice")
	}
	if err := s.load(); err != nil {
		return err
	}
	pc, ln, err := listen(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	addr := netip.AddrPortFrom(s.cfg.Listen.Addr(), uint16(pc.LocalAddr().(*net.UDPAddr).Port))
	s.addr.Store(&addr)
	var rc fileStamp
	rc.get(s.cfg.ResolvConf)
	s.reloadUpstreams(nil)
	s.udp = &mdns.Server{PacketConn: pc, Handler: s, UDPSize: maxUDPSize}
	s.tcp = &mdns.Server{Listener: netutil.LimitListener(ln, s.cfg.MaxTCPConns), Handler: s,
		ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, MaxTCPQueries: 128}
	s.stop = make(chan struct{})
	for name, srv := range map[string]*mdns.Server{"udp": s.udp, "tcp": s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		s.wg.Add(1)
		go s.routineServe(name, srv, errc)
		select {
		case <-started:
		case err := <-errc:
			s.closeLocked()
			return fmt.Errorf("dns: serve %s: %w", name, err)
		}
	}
	s.wg.Add(1)
	go s.routineUpkeep(rc)
	s.started = true
	s.log.Info("dns: serving", "listen", addr.String(), "domain", s.domain, "upstreams", *s.upstreams.Load(),
		"entries", s.reg.Len())
	return nil
}

// listen binds UDP and TCP on the same address and port. The sockets
// are bound with IP_FREEBIND: the address (the bridge's) may be added
// after the server starts, or come and go, and the server answers as
// soon as it is there.
func listen(ap netip.AddrPort) (net.PacketConn, net.Listener, error) {
	lc := net.ListenConfig{Control: freebind}
	ctx := context.Background()
	pc, err := lc.ListenPacket(ctx, "udp", ap.String())
	if err != nil {
		return nil, nil, err
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	ln, err := lc.Listen(ctx, "tcp", netip.AddrPortFrom(ap.Addr(), uint16(port)).String())
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	return pc, ln, nil
}

func (s *Service) routineServe(name string, srv *mdns.Server, errc chan<- error) {
	defer s.wg.Done()
	s.log.Debug("dns: routineServe started", "net", name)
	defer s.log.Debug("dns: routineServe stopped", "net", name)
	if err := srv.ActivateAndServe(); err != nil {
		errc <- err
	}
}

// routineUpkeep sweeps gone peers' names, re-reads the resolvers when the
// file changes and saves the registry after gossip changed it.
func (s *Service) routineUpkeep(rc fileStamp) {
	defer s.wg.Done()
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
		case <-tick.C:
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
	for _, srv := range []*mdns.Server{s.udp, s.tcp} {
		if srv.Shutdown() != nil {
			// It never started: close its socket here.
			if srv.PacketConn != nil {
				srv.PacketConn.Close()
			}
			if srv.Listener != nil {
				srv.Listener.Close()
			}
		}
	}
	close(s.stop)
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
