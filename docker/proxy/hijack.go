package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
)

// serveRawHijack carries an attach or exec start that does not ask for
// an upgrade: the daemon answers it with 200 and then uses the
// connection as a raw stream both ways, which an HTTP proxy cannot
// carry. The proxy takes over the client's connection, writes the
// request to a connection of its own to the daemon, and copies bytes
// both ways, the daemon's response header included, until both sides
// have finished (a half-close of one reaches the other) or the proxy
// closes.
func (s *Service) serveRawHijack(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody+1))
	if err != nil || int64(len(body)) > s.cfg.MaxBody {
		s.fail(w, r, "hijack", &statusError{http.StatusBadRequest, fmt.Errorf("reading the request body: %v (at most %d bytes)", err, s.cfg.MaxBody)})
		return
	}
	ctx := r.Context()
	back, err := s.dial(ctx)
	if err != nil {
		s.fail(w, r, "hijack", err)
		return
	}
	defer back.Close()
	out := r.Clone(ctx)
	out.URL = &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	out.Host = "docker"
	out.RequestURI = ""
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.TransferEncoding = nil
	// The connection carries this one exchange; after a plain answer
	// (an error) the daemon closes it, which ends the copy.
	out.Header.Set("Connection", "close")
	out.Close = true

	front, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.fail(w, r, "hijack", err)
		return
	}
	defer front.Close()
	if err := out.Write(back); err != nil {
		s.metrics.errors.WithLabelValues("hijack").Inc()
		s.log.Warn("raw hijack: writing the request to the daemon", "path", r.URL.Path, "err", err)
		return
	}
	// What the client sent after the request (stdin) may already sit
	// in the server's read buffer.
	var fromClient io.Reader = front
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ := brw.Reader.Peek(n)
		fromClient = io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), front)
	}
	splice(ctx.Done(), front, back, fromClient)
}

// splice copies src (front's input) to back and back to front, each
// direction half-closing its destination when its source ends, until
// both directions have ended; closing done closes both connections,
// which ends them. It returns once both copies have.
func splice(done <-chan struct{}, front, back net.Conn, src io.Reader) {
	ended := make(chan struct{}, 2)
	go copyHalf(back, src, ended)
	go copyHalf(front, back, ended)
	for n := 0; n < 2; {
		select {
		case <-ended:
			n++
		case <-done:
			front.Close()
			back.Close()
			done = nil
		}
	}
	front.Close()
	back.Close()
}

// copyHalf copies src to dst, then half-closes dst (or closes it, if it
// cannot), and signals ended.
func copyHalf(dst net.Conn, src io.Reader, ended chan<- struct{}) {
	defer func() { ended <- struct{}{} }()
	_, _ = io.Copy(dst, src)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	dst.Close()
}
