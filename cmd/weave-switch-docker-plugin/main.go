// Command weave-switch-docker-plugin is the weave-switch network and IPAM
// driver packaged as a managed (v2) Docker plugin. It holds no logic: it
// serves the socket dockerd gives the plugin and forwards every call to
// the router's plugin socket, which the plugin's config mounts in. The
// router makes the veths in its network namespace, which must be
// dockerd's (the plugin runs with the host network).
//
//	docker plugin create weave-switch/net:VERSION build/docker-plugin
//	docker plugin enable weave-switch/net:VERSION
//	docker network create -d weave-switch/net:VERSION --ipam-driver weave-switch/net:VERSION NET
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

const contentType = "application/vnd.docker.plugins.v1.2+json"

func main() {
	listen := flag.String("listen", "/run/docker/plugins/weave-switch.sock", "the plugin socket dockerd connects to")
	upstream := flag.String("upstream", "/run/weave-switch/plugin.sock", "the router's plugin socket")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *listen, *upstream, log); err != nil {
		log.Error("weave-switch-docker-plugin", "err", err)
		os.Exit(1)
	}
}

// run serves listen until ctx is done, forwarding to upstream.
func run(ctx context.Context, listen, upstream string, log *slog.Logger) error {
	if err := os.MkdirAll(filepath.Dir(listen), 0o755); err != nil {
		return err
	}
	_ = os.Remove(listen)
	ln, err := net.Listen("unix", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: Forwarder(upstream, log), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("forwarding docker plugin calls", "listen", listen, "upstream", upstream)
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	_ = os.Remove(listen)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// Forwarder passes each request to the unix socket upstream; when the
// router does not answer, dockerd gets the protocol's error.
func Forwarder(upstream string, log *slog.Logger) http.Handler {
	target := &url.URL{Scheme: "http", Host: "weave-switch"}
	p := httputil.NewSingleHostReverseProxy(target)
	p.Transport = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", upstream)
		},
		MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second,
	}
	p.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		log.Warn("router not reachable", "call", r.URL.Path, "err", err)
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(struct{ Err string }{fmt.Sprintf("weave-switch router not reachable at %s (is `weave-switch up` running?): %v", upstream, err)})
	}
	return p
}
