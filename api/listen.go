package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Listen takes the API's unix socket at path, replacing a stale socket
// but refusing to steal one a live router is serving. Only root and the
// socket's group may connect.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("--api: a router is already serving %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("--api: %w", err)
	}
	return ln, nil
}

// Timeouts bound how long a server waits on one client, so that a slow
// or silent client cannot hold connections open for good.
type Timeouts struct {
	// ReadHeader bounds reading a request's header, Read the whole
	// request, Write the time from the end of the request's header to the
	// end of the response, and Idle how long a kept-alive connection
	// waits for the next request.
	ReadHeader, Read, Write, Idle time.Duration
}

// SocketTimeouts are the API socket's. Write is long: an attach may wait
// for an address from a peer, and a CPU profile or trace
// (/debug/pprof/profile?seconds=N) needs N seconds plus some, so it
// allows profiles of up to about 9 minutes.
var SocketTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 30 * time.Second, Write: 10 * time.Minute, Idle: 2 * time.Minute}

// MetricsTimeouts are the TCP metrics server's, which anyone who can
// reach its address may connect to: a scrape is one small request and a
// response built in well under a second.
var MetricsTimeouts = Timeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Write: 30 * time.Second, Idle: time.Minute}

// newServer is the http.Server Serve runs.
func newServer(h http.Handler, t Timeouts) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: t.ReadHeader, ReadTimeout: t.Read,
		WriteTimeout: t.Write, IdleTimeout: t.Idle}
}

// Serve serves h on ln in a goroutine of its own, with timeouts t. The
// returned stop shuts the server down (closing ln), waits up to 2 s for
// requests under way, and returns once the goroutine has ended.
func Serve(ln net.Listener, h http.Handler, t Timeouts, log *slog.Logger) (stop func()) {
	srv := newServer(h, t)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		<-done
	}
}
