package api

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"
)

func TestServerTimeouts(t *testing.T) {
	for _, tt := range []Timeouts{SocketTimeouts, MetricsTimeouts} {
		if tt.ReadHeader <= 0 || tt.Read <= 0 || tt.Write <= 0 || tt.Idle <= 0 {
			t.Errorf("a timeout is unset: %+v", tt)
		}
		srv := newServer(http.NotFoundHandler(), tt)
		if srv.ReadHeaderTimeout != tt.ReadHeader || srv.ReadTimeout != tt.Read || srv.WriteTimeout != tt.Write || srv.IdleTimeout != tt.Idle {
			t.Errorf("server %+v does not have the timeouts %+v", srv, tt)
		}
	}
	// pprof refuses a profile longer than the server's write timeout: the
	// socket allows the default 30 s one with room to spare.
	if SocketTimeouts.Write < 5*time.Minute {
		t.Errorf("API socket write timeout %v is too short for CPU profiles", SocketTimeouts.Write)
	}
}

// A client that sends half a request, or keeps a connection idle, is
// disconnected; a slow handler's response is cut off.
func TestServeDisconnectsSlowClients(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/fast", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond)
		io.WriteString(w, "late")
	})
	to := Timeouts{ReadHeader: 100 * time.Millisecond, Read: 200 * time.Millisecond, Write: 100 * time.Millisecond, Idle: 100 * time.Millisecond}
	stop := Serve(ln, mux, to, slog.New(slog.DiscardHandler))
	defer stop()

	closed := func(name string, c net.Conn) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err := io.ReadAll(c)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: the server kept the connection open", name)
		}
	}

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: x\r\n")
	closed("half a header", c)
	c.Close()

	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET /fast HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("fast request: %v %v", resp, err)
	}
	resp.Body.Close()
	closed("idle", c)
	c.Close()

	c, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
		b, err := io.ReadAll(resp.Body)
		if err == nil && string(b) == "late" {
			t.Error("a response written after the write timeout arrived")
		}
	}
}
