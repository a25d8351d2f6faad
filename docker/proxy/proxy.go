package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/docker"
)

// Service is the Docker API proxy. Its methods are safe for concurrent
// use.
type Service struct {
	cfg     Config
	log     *slog.Logger
	daemon  daemon
	dial    func(ctx context.Context) (net.Conn, error)
	tr      *http.Transport
	rp      *httputil.ReverseProxy
	metrics *metrics

	mu struct {
		sync.Mutex
		started, stopping bool
		ln                net.Listener
		srv               *http.Server
		cancel            context.CancelFunc
		served            chan struct{}
	}
	// handlers counts the requests being served; Close waits for them.
	handlers sync.WaitGroup
}

// New builds a Service from cfg (see Config for the defaults). It does
// no I/O; it fails if cfg is not valid.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	netw, addr, _ := upstream(cfg.DockerHost)
	c, err := docker.NewClient(cfg.DockerHost)
	if err != nil {
		return nil, fmt.Errorf("docker proxy: %w", err)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, daemon: mobyDaemon{c}, metrics: newMetrics()}
	s.dial = func(ctx context.Context) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, netw, addr)
	}
	s.tr = &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return s.dial(ctx) },
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
	s.rp = &httputil.ReverseProxy{
		Transport: s.tr,
		// Flush every write: logs -f, events, stats and pulls stream.
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "docker"
			pr.Out.Host = "docker"
		},
		ModifyResponse: s.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.fail(w, r, "forward", err)
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Socket is the path of the socket the proxy serves (or will serve).
func (s *Service) Socket() string { return s.cfg.Socket }

// Start takes the socket and serves it. A socket file nobody answers on
// is replaced; one a server answers on is an error. The socket is
// mode 0660, as the Docker daemon's own: root and its group may use it.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.started {
		return errors.New("docker proxy: started twice")
	}
	ln, err := listen(s.cfg.Socket)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.started = true
	s.mu.ln, s.mu.srv, s.mu.cancel = ln, srv, cancel
	s.mu.served = make(chan struct{})
	go s.routineServe(srv, ln, s.mu.served)
	s.log.Info("docker proxy listening", "socket", s.cfg.Socket, "docker_host", s.cfg.DockerHost, "network", s.cfg.Network)
	return nil
}

func (s *Service) routineServe(srv *http.Server, ln net.Listener, done chan<- struct{}) {
	defer close(done)
	s.log.Debug("routineServe started")
	defer s.log.Debug("routineServe stopped")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("docker proxy stopped serving", "socket", s.cfg.Socket, "err", err)
	}
}

// listen takes the unix socket at path.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("docker proxy: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("docker proxy: something already serves %s", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("docker proxy: removing the stale socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("docker proxy: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("docker proxy: %w", err)
	}
	return ln, nil
}

// Close stops serving: it ends every request under way, hijacked
// streams included, waits for their handlers and removes the socket.
// It is idempotent, and safe before Start.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.mu.stopping {
		s.mu.Unlock()
		return nil
	}
	s.mu.stopping = true
	srv, cancel, served := s.mu.srv, s.mu.cancel, s.mu.served
	s.mu.Unlock()
	if srv != nil {
		cancel()
		srv.Close()
		<-served
		s.handlers.Wait()
		if err := os.Remove(s.cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing the docker proxy socket", "err", err)
		}
	}
	s.tr.CloseIdleConnections()
	return s.daemon.close()
}

// enter counts a request in, unless the proxy is closing.
func (s *Service) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.stopping {
		return false
	}
	s.handlers.Add(1)
	return true
}

// ServeHTTP implements http.Handler: it forwards r to the daemon,
// rewriting container creates.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !s.enter() {
		writeError(w, http.StatusServiceUnavailable, "weave-switch docker proxy: closing")
		return
	}
	defer s.handlers.Done()
	class := classify(r)
	s.metrics.requests.WithLabelValues(class).Inc()
	s.log.Debug("docker API request", "method", r.Method, "path", r.URL.Path, "class", class)
	switch {
	case class == classCreate:
		s.serveCreate(w, r)
	case (class == classAttach || class == classExec) && !isUpgrade(r):
		s.serveRawHijack(w, r)
	default:
		s.rp.ServeHTTP(w, r)
	}
}

// fail answers r with err in the Docker daemon's error JSON, and logs
// and counts it under stage.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, stage string, err error) {
	code := http.StatusBadGateway
	var se *statusError
	if errors.As(err, &se) {
		code = se.code
	}
	s.metrics.errors.WithLabelValues(stage).Inc()
	if errors.Is(err, context.Canceled) {
		s.log.Debug("docker API request cancelled", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Warn("docker API request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	writeError(w, code, err.Error())
}

// writeError writes the Docker daemon's error JSON.
func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
	}{msg})
}
