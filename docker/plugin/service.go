package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
)

// Addresses is the router's allocator, as the IPAM driver needs it.
type Addresses interface {
	// Assign gives key the explicit cidrs (claimed) and an address in
	// each subnet spec; undo releases what the call allocated.
	Assign(ctx context.Context, key string, cidrs []netip.Prefix, specs []string) (out []netip.Prefix, undo func(), err error)
	// Release frees key's addresses.
	Release(key string) []netip.Addr
	// Status lists the range, the default subnet and every key's
	// addresses.
	Status() *api.IPAMStatus
	// Holder is the key an address is allocated to, or claimed by
	// while the peer owning its space has not granted it yet.
	Holder(ad netip.Addr) (key string, ok bool)
}

// Host exposes and hides the host's addresses on the bridge: a docker
// network's gateway.
type Host interface {
	Expose(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error)
	Hide(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error)
	// Status lists the exposed addresses (drops: read drop counters).
	Status(drops bool) *api.HostStatus
}

// Endpoints makes the containers' ports on the bridge.
type Endpoints interface {
	CreateEndpoint(ctx context.Context, req attach.EndpointRequest) (attach.Endpoint, error)
	RestoreEndpoint(ctx context.Context, ep attach.Endpoint) error
	DeleteEndpoint(ctx context.Context, ep attach.Endpoint) error
	// AddEndpointAddrs puts addrs on the container end once the runtime
	// has moved and configured it in the namespace at nsPath; it waits
	// (a while, or until stop is closed).
	AddEndpointAddrs(ep attach.Endpoint, nsPath string, addrs []netip.Prefix, stop <-chan struct{}) error
}

// Firewall lets bridged and masqueraded traffic of the bridge through
// the FORWARD chain. Both calls are idempotent.
type Firewall interface {
	Allow(bridge string) error
	Remove(bridge string) error
}

// Config configures a Service.
type Config struct {
	// Sockets are the unix sockets served, e.g.
	// /run/docker/plugins/weave-switch.sock (dockerd finds the plugin
	// there) and one for the managed plugin to forward to. Their
	// directories are made. At least one is required.
	Sockets []string
	// Bridge is the weave bridge. Required.
	Bridge string
	// StateFile keeps the networks, exposed gateways and endpoints
	// across restarts of the router. If empty, nothing is kept.
	StateFile string
	// Addresses, Host and Endpoints are required.
	Addresses Addresses
	Host      Host
	Endpoints Endpoints
	// Firewall installs the FORWARD rules; if nil, the iptables binary
	// (IPTables).
	Firewall Firewall
	// Logger; if nil, silent.
	Logger *slog.Logger
}

// Service is the network and IPAM driver. Its handlers are safe for
// concurrent use; calls that change networks and their gateways run one
// at a time.
type Service struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	// netMu serialises the changes of networks and gateways (expose and
	// hide take a while and must see each other's result).
	netMu sync.Mutex

	mu      sync.Mutex
	st      state
	started bool
	closed  bool
	srv     *http.Server
	lns     []net.Listener
	stop    chan struct{} // closed by Close: ends the goroutines
	done    sync.WaitGroup
}

// New builds a Service; it does no I/O.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, log: cfg.Logger, metrics: newMetrics(), st: newState(), stop: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.Firewall == nil {
		s.cfg.Firewall = IPTables{}
	}
	return s
}

// startTimeout bounds Start's restore of gateways and endpoints.
const startTimeout = 20 * time.Second

// Start loads the state, restores the gateways and endpoints of an
// earlier run, installs the FORWARD rules and serves the sockets. On
// failure it undoes what it did.
func (s *Service) Start() (err error) {
	if len(s.cfg.Sockets) == 0 || s.cfg.Bridge == "" || s.cfg.Addresses == nil || s.cfg.Host == nil || s.cfg.Endpoints == nil {
		return errors.New("docker plugin: Sockets, Bridge, Addresses, Host and Endpoints are required")
	}
	s.mu.Lock()
	if s.started || s.closed {
		s.mu.Unlock()
		return errors.New("docker plugin: started twice")
	}
	s.started = true
	s.mu.Unlock()
	st, err := loadState(s.cfg.StateFile)
	if err != nil {
		return fmt.Errorf("docker plugin: %w", err)
	}
	s.mu.Lock()
	s.st = st
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	s.restore(ctx)
	if err := s.cfg.Firewall.Allow(s.cfg.Bridge); err != nil {
		s.log.Warn("FORWARD rules for the bridge not installed: containers on docker networks may not reach each other where dockerd set the FORWARD policy to DROP", "err", err)
	}
	defer func() {
		if err != nil {
			s.closeListeners()
			_ = s.cfg.Firewall.Remove(s.cfg.Bridge)
		}
	}()
	for _, path := range s.cfg.Sockets {
		ln, err := listenUnix(path)
		if err != nil {
			return fmt.Errorf("docker plugin: %w", err)
		}
		s.lns = append(s.lns, ln)
	}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	for _, ln := range s.lns {
		s.done.Add(1)
		go s.routineServe(ln)
	}
	s.log.Info("docker plugin serving", "sockets", s.cfg.Sockets, "networks", len(s.st.Networks), "endpoints", len(s.st.Endpoints))
	return nil
}

func (s *Service) routineServe(ln net.Listener) {
	defer s.done.Done()
	s.log.Debug("serve", "socket", ln.Addr().String())
	defer s.log.Debug("serve stopped", "socket", ln.Addr().String())
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn("docker plugin socket", "socket", ln.Addr().String(), "err", err)
	}
}

// listenUnix binds a unix socket at path, making its directory and
// replacing a socket nobody listens on.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another process serves it", path)
		}
		_ = os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	return ln, nil
}

// goLocked runs f as a tracked goroutine unless the Service is closing;
// s.mu is held.
func (s *Service) goLocked(f func()) bool {
	if s.closed {
		return false
	}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		f()
	}()
	return true
}

// closeListeners stops serving and removes the sockets.
func (s *Service) closeListeners() {
	if s.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.srv.Shutdown(ctx)
		cancel()
		_ = s.srv.Close()
	}
	for _, ln := range s.lns {
		ln.Close()
		_ = os.Remove(ln.Addr().String())
	}
	s.done.Wait()
	s.lns, s.srv = nil, nil
}

// Close stops serving, removes the sockets and the FORWARD rules. It
// is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed || !s.started {
		s.closed = true
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.closeListeners()
	return s.cfg.Firewall.Remove(s.cfg.Bridge)
}

// Handler serves the protocol; Start serves it on the sockets.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(method string, h func(ctx context.Context, body []byte) (any, error)) {
		mux.HandleFunc("POST /"+method, func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
			var out any
			if err == nil {
				out, err = h(r.Context(), body)
			}
			s.metrics.observe(method, err)
			if err != nil {
				s.log.Warn("docker plugin call failed", "call", method, "request", string(body), "err", err)
			} else {
				s.log.Debug("docker plugin call", "call", method, "request", string(body))
			}
			writeResponse(w, out, err)
		})
	}
	route("Plugin.Activate", func(context.Context, []byte) (any, error) {
		return activateResponse{Implements: []string{"NetworkDriver", "IpamDriver"}}, nil
	})
	for name, h := range s.handlers() {
		route(name, h)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.metrics.observe("unknown", errUnknownCall)
		writeResponse(w, nil, fmt.Errorf("%w: %s %s", errUnknownCall, r.Method, r.URL.Path))
	})
	return mux
}

var errUnknownCall = errors.New("unknown plugin call")

// handlers are the driver's calls by name.
func (s *Service) handlers() map[string]func(ctx context.Context, body []byte) (any, error) {
	return map[string]func(ctx context.Context, body []byte) (any, error){
		"IpamDriver.GetCapabilities":         func(context.Context, []byte) (any, error) { return ipamCapabilities{}, nil },
		"IpamDriver.GetDefaultAddressSpaces": func(context.Context, []byte) (any, error) { return defaultSpaces, nil },
		"IpamDriver.RequestPool":             decoded(s.requestPool),
		"IpamDriver.ReleasePool":             decoded(s.releasePool),
		"IpamDriver.RequestAddress":          decoded(s.requestAddress),
		"IpamDriver.ReleaseAddress":          decoded(s.releaseAddress),

		"NetworkDriver.GetCapabilities": func(context.Context, []byte) (any, error) {
			return networkCapabilities{Scope: "local", ConnectivityScope: "global"}, nil
		},
		"NetworkDriver.CreateNetwork":               decoded(s.createNetwork),
		"NetworkDriver.DeleteNetwork":               decoded(s.deleteNetwork),
		"NetworkDriver.CreateEndpoint":              decoded(s.createEndpoint),
		"NetworkDriver.EndpointOperInfo":            decoded(s.endpointOperInfo),
		"NetworkDriver.DeleteEndpoint":              decoded(s.deleteEndpoint),
		"NetworkDriver.Join":                        decoded(s.join),
		"NetworkDriver.Leave":                       nothing,
		"NetworkDriver.DiscoverNew":                 nothing,
		"NetworkDriver.DiscoverDelete":              nothing,
		"NetworkDriver.ProgramExternalConnectivity": nothing,
		"NetworkDriver.RevokeExternalConnectivity":  nothing,
		"NetworkDriver.AllocateNetwork":             nothing,
		"NetworkDriver.FreeNetwork":                 nothing,
	}
}

// decoded adapts a typed handler: it decodes the body into Req first.
func decoded[Req, Resp any](h func(context.Context, Req) (Resp, error)) func(context.Context, []byte) (any, error) {
	return func(ctx context.Context, body []byte) (any, error) {
		var req Req
		if err := decodeRequest(body, &req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// nothing answers a call the driver has nothing to do for.
func nothing(context.Context, []byte) (any, error) { return empty{}, nil }
