package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/weave-switch/weave-switch/api"
)

// Config configures a Server.
type Config struct {
	// Addr is the TCP HOST:PORT the page is served on (--http-addr).
	// Required.
	Addr string
	// Source is what the page shows; Source.Status is required.
	Source Source
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
}

// Server serves the status page alone over TCP. Its methods are safe for
// concurrent use.
type Server struct {
	cfg Config
	mu  struct {
		sync.Mutex
		addr string
		stop func()
	}
}

// New checks cfg and returns a Server that is not serving yet. It does
// no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Source.Status == nil {
		return nil, errors.New("web: no status")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("--http-addr %q: want HOST:PORT: %w", cfg.Addr, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg}, nil
}

// Start binds Addr and serves the page on it in a goroutine of its own.
// It fails if the address cannot be bound, and if it is already serving.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stop != nil {
		return errors.New("web: already serving")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("--http-addr: %w", err)
	}
	s.mu.addr = ln.Addr().String()
	s.mu.stop = api.Serve(ln, Handler(s.cfg.Source), api.MetricsTimeouts, s.cfg.Logger)
	s.cfg.Logger.Info("status page", "url", URL(s.mu.addr))
	return nil
}

// Addr is the address Start bound (the port chosen for port 0), or ""
// when not serving.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.addr
}

// Close stops serving and waits for the server's goroutine. It is
// idempotent and always returns nil.
func (s *Server) Close() error {
	s.mu.Lock()
	stop := s.mu.stop
	s.mu.stop, s.mu.addr = nil, ""
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	return nil
}

// URL is the page's address for a server bound to addr (HOST:PORT): an
// unspecified host (0.0.0.0, ::) becomes the loopback address of its
// family, which reaches it from this host.
func URL(addr string) string {
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().IsUnspecified() {
		lo := netip.IPv6Loopback()
		if ap.Addr().Is4() {
			lo = netip.MustParseAddr("127.0.0.1")
		}
		addr = netip.AddrPortFrom(lo, ap.Port()).String()
	}
	return "http://" + addr + "/"
}
