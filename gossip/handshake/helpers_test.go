package handshake

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

func leakCheck(t testing.TB) { leakcheck.Check(t) }

// transports are the two kinds of connection every handshake test runs
// over: an unbuffered in-memory pipe (which deadlocks if both sides write
// at once) and real TCP on loopback.
var transports = []struct {
	name string
	real bool
}{{"pipe", false}, {"tcp", true}}

// connPair returns two connected net.Conns, closed at the end of t.
func connPair(t testing.TB, realSocket bool) (client, server net.Conn) {
	t.Helper()
	if !realSocket {
		client, server = net.Pipe()
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		type result struct {
			c   net.Conn
			err error
		}
		accepted := make(chan result, 1)
		go func() {
			c, err := ln.Accept()
			accepted <- result{c, err}
		}()
		client, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		r := <-accepted
		if r.err != nil {
			t.Fatal(r.err)
		}
		server = r.c
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// testConfig returns a valid Config for router number i.
func testConfig(i int, password string) Config {
	cfg := Config{
		Name:        frame.PeerName(0x020000000000 + uint64(i)),
		Nickname:    "host-" + string(rune('a'+i)),
		UID:         uint64(1000 + i),
		Incarnation: uint64(i),
		Caps:        map[string]string{"transport": "sleeve quic", "router": string(rune('a' + i))},
		Timeout:     5 * time.Second,
	}
	if password != "" {
		cfg.Password = []byte(password)
	}
	return cfg
}

// result is the outcome of one side of a handshake.
type result struct {
	conn *Conn
	err  error
}

// handshakePair runs Client over c and Server over s at once and returns
// both outcomes. Established Conns are closed at the end of t.
func handshakePair(t testing.TB, ctx context.Context, c, s net.Conn, ccfg, scfg Config) (client, server result) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Go(func() { server.conn, server.err = Server(ctx, s, scfg) })
	client.conn, client.err = Client(ctx, c, ccfg)
	wg.Wait()
	for _, r := range []result{client, server} {
		if r.conn != nil {
			t.Cleanup(func() { r.conn.Close() })
		}
	}
	return client, server
}

// established runs a successful handshake over a new pair and returns the
// client and server Conns.
func established(t testing.TB, realSocket bool, password string) (client, server *Conn) {
	t.Helper()
	c, s := connPair(t, realSocket)
	cr, sr := handshakePair(t, context.Background(), c, s, testConfig(1, password), testConfig(2, password))
	if cr.err != nil || sr.err != nil {
		t.Fatalf("handshake: client %v, server %v", cr.err, sr.err)
	}
	return cr.conn, sr.conn
}

// tapConn wraps a net.Conn and lets a test rewrite what is written (a
// man in the middle on the write side) or capture it instead of sending.
type tapConn struct {
	net.Conn
	mu      sync.Mutex
	rewrite func(b []byte) []byte // applied to each Write while non-nil
	capture bool
	written []byte // captured bytes
}

func (t *tapConn) Write(b []byte) (int, error) {
	t.mu.Lock()
	if t.capture {
		t.written = append(t.written, b...)
		t.mu.Unlock()
		return len(b), nil
	}
	rewrite := t.rewrite
	t.mu.Unlock()
	if rewrite != nil {
		if _, err := t.Conn.Write(rewrite(append([]byte(nil), b...))); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return t.Conn.Write(b)
}

// splitRecords splits a byte stream of whole records.
func splitRecords(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var recs [][]byte
	for len(b) > 0 {
		if len(b) < headerSize {
			t.Fatalf("trailing %d bytes", len(b))
		}
		n := headerSize + (int(b[2])<<8 | int(b[3]))
		recs = append(recs, b[:n:n])
		b = b[n:]
	}
	return recs
}
