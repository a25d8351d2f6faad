package handshake

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// Tests with a misbehaving peer: the test itself plays the peer's side of
// the connection with raw bytes.

// validPreamble is the preamble of a router speaking version 1.
func validPreamble(password bool) []byte {
	p := preamble{min: 1, max: 1}
	if password {
		p.flags = flagPassword
	}
	return p.append(nil)
}

func TestBadPeer(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tests := []struct {
		name     string
		server   bool   // test Server (the fake peer is a client), else Client
		password string // of the router under test
		script   []step // what the fake peer does
		hangUp   bool   // close after the script, else stall
		sentinel error
		msg      string
	}{
		{name: "truncated preamble", server: true, script: w(validPreamble(false)[:10]), hangUp: true,
			sentinel: ErrProtocol, msg: "truncated preamble (10 of 18 bytes)"},
		{name: "truncated preamble to client", script: w(validPreamble(false)[:15]), hangUp: true,
			sentinel: ErrProtocol, msg: "truncated preamble (15 of 18 bytes)"},
		{name: "nothing then close", server: true, hangUp: true,
			sentinel: io.ErrUnexpectedEOF, msg: "peer closed the connection before sending its preamble"},
		{name: "http garbage", server: true, script: w([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), hangUp: true,
			sentinel: ErrProtocol, msg: `not a weave-switch router (bad magic "GET / H")`},
		{name: "binary garbage stalls", server: true, script: w([]byte{0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3}),
			sentinel: ErrProtocol, msg: "bad magic"},
		// Weave Net sends its 7-byte header and waits for ours: recognised
		// at once, not at the timeout.
		{name: "weave net router", server: true, script: w([]byte("weave\x01\x02")),
			sentinel: ErrProtocol, msg: "peer is a Weave Net router (mesh protocol 1..2)"},
		{name: "weave net server", script: w([]byte("weave\x01\x02")),
			sentinel: ErrProtocol, msg: "Weave Net router"},
		{name: "zero version range", server: true, script: w(preamble{min: 0, max: 0}.append(nil)), hangUp: true,
			sentinel: ErrProtocol, msg: "invalid protocol version range 0..0"},
		{name: "inverted version range", server: true, script: w(preamble{min: 3, max: 2}.append(nil)), hangUp: true,
			sentinel: ErrProtocol, msg: "invalid protocol version range 3..2"},
		{name: "unknown record kind", server: true, script: plainClient([]byte{9, 0, 0, 1, 0}),
			sentinel: ErrProtocol, msg: "unknown record kind 9"},
		{name: "hello record too long", server: true, script: plainClient([]byte{byte(kindHello), 0, 0xff, 0xff}),
			sentinel: ErrProtocol, msg: "hello record of 65535 bytes, want 1..65519"},
		{name: "bad flags", server: true, script: plainClient([]byte{byte(kindHello), 0x80, 0, 1, 0}),
			sentinel: ErrProtocol, msg: "invalid flags 0x80"},
		{name: "message before hello", server: true, script: plainClient([]byte{byte(kindMsg), 0, 0, 1, 7}),
			sentinel: ErrProtocol, msg: "unexpected message record, want hello"},
		{name: "malformed hello", server: true, script: plainClient([]byte{byte(kindHello), 0, 0, 3, 0, 1, 2}),
			sentinel: ErrProtocol, msg: "truncated hello"},
		{name: "truncated record", server: true, script: plainClient([]byte{byte(kindHello), 0, 0, 30, 0, 1, 2}), hangUp: true,
			sentinel: io.ErrUnexpectedEOF, msg: "truncated hello record"},
		{name: "stall after preamble", server: true, script: plainClient(nil),
			sentinel: ErrTimeout, msg: "handshake timed out after 300ms (peer stalled?)"},
		{name: "stall mid-record", server: true, script: plainClient([]byte{byte(kindHello), 0, 0, 30, 0, 1, 2}),
			sentinel: ErrTimeout, msg: "handshake timed out"},
		{name: "client stall after preamble", script: w(validPreamble(false)),
			sentinel: ErrTimeout, msg: "handshake timed out"},
		{name: "stall before noise", server: true, password: "pw", script: pwClient(nil),
			sentinel: ErrTimeout, msg: "handshake timed out"},
		{name: "client stall waiting for noise 2", password: "pw", script: w(validPreamble(true)),
			sentinel: ErrTimeout, msg: "handshake timed out"},
		{name: "close before noise 2", password: "pw", script: cat2(w(validPreamble(true)), r(headerSize+48)), hangUp: true,
			sentinel: io.ErrUnexpectedEOF, msg: "peer closed the connection during the handshake (wrong password?)"},
		{name: "noise 1 of wrong size", server: true, password: "pw",
			script:   pwClient([]byte{byte(kindNoise), 0, 0, 3, 1, 2, 3}),
			sentinel: ErrProtocol, msg: "noise message 1 of 3 bytes, want 48"},
		{name: "forged noise 1", server: true, password: "pw",
			script:   pwClient(cat([]byte{byte(kindNoise), 0, 0, 48}, make([]byte, 48))),
			sentinel: ErrAuth, msg: "cannot authenticate noise message 1"},
		{name: "plaintext hello to encrypted server", server: true, password: "pw",
			script:   pwClient([]byte{byte(kindHello), 0, 0, 1, 0}),
			sentinel: ErrProtocol, msg: "unexpected hello record, want noise"},
		{name: "alert with unknown code", server: true, hangUp: true,
			script:   plainClient([]byte{byte(kindAlert), 0, 0, 4, 99, 'b', 'y', 0x07}),
			sentinel: ErrRefused, msg: "reported by peer: by?"},
		{name: "malformed alert", server: true, script: plainClient([]byte{byte(kindAlert), 0, 0, 0}),
			sentinel: ErrProtocol, msg: "alert record of 0 bytes"},
	}
	derivePSK([]byte("pw")) // so that Argon2id does not count against the timeout
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				leakCheck(t)
				conn, peer := connPair(t, tr.real)
				cfg := testConfig(1, tt.password)
				cfg.Timeout = timeout
				go fakePeer(peer, !tt.server, tt.script, tt.hangUp)
				var err error
				if tt.server {
					_, err = Server(context.Background(), conn, cfg)
				} else {
					_, err = Client(context.Background(), conn, cfg)
				}
				// A failure found only at the deadline would be ErrTimeout,
				// so the sentinel check also proves it was found at once.
				if err == nil || !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("error %v, want one wrapping %q containing %q", err, tt.sentinel, tt.msg)
				}
				if tt.sentinel == ErrTimeout && !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("timeout error %v does not wrap os.ErrDeadlineExceeded", err)
				}
				if _, err := conn.Write([]byte{0}); err == nil {
					t.Error("conn still open after a failed handshake")
				}
			})
		}
	}
}

// step is one action of a fake peer: read n bytes, or write b.
type step struct {
	read  int
	write []byte
}

func w(b []byte) []step { return []step{{write: b}} }
func r(n int) []step    { return []step{{read: n}} }

func cat2(s ...[]step) []step {
	var out []step
	for _, x := range s {
		out = append(out, x...)
	}
	return out
}

// plainClient is a fake client without password: it sends its preamble,
// reads the server's, then sends b.
func plainClient(b []byte) []step {
	return cat2(w(validPreamble(false)), r(preambleSize), w(b))
}

// pwClient is plainClient with a password.
func pwClient(b []byte) []step {
	return cat2(w(validPreamble(true)), r(preambleSize), w(b))
}

// fakePeer plays a peer over conn: as a server it first reads the
// client's preamble. It runs script, then hangs up or stalls (reading and
// discarding until the router under test closes the connection).
func fakePeer(conn net.Conn, server bool, script []step, hangUp bool) {
	if server {
		script = cat2(r(preambleSize), script)
	}
	for _, s := range script {
		var err error
		if s.read > 0 {
			_, err = io.ReadFull(conn, make([]byte, s.read))
		} else if len(s.write) > 0 {
			_, err = conn.Write(s.write)
		}
		if err != nil {
			return
		}
	}
	if hangUp {
		conn.Close()
		return
	}
	io.Copy(io.Discard, conn)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestContextCancel(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			conn, peer := connPair(t, tr.real)
			go fakePeer(peer, false, nil, false) // stalls
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			_, err := Server(ctx, conn, testConfig(1, "pw")) // Timeout 5s
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("cancel took %v to abort the handshake", d)
			}

			// An already-cancelled context fails at once.
			conn2, _ := connPair(t, tr.real)
			if _, err := Client(ctx, conn2, testConfig(1, "")); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled context: %v", err)
			}

			// A context deadline counts like cancellation.
			conn3, peer3 := connPair(t, tr.real)
			go fakePeer(peer3, true, nil, false)
			dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer dcancel()
			if _, err := Client(dctx, conn3, testConfig(1, "")); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("context deadline: %v", err)
			}
		})
	}
}

// TestManInTheMiddle rewrites one of the client's writes on its way to
// the server. Hiding a version or the password flag in the preamble cannot
// downgrade the connection (the preambles are the Noise prologue), and a
// modified handshake record is refused; each time the server says why and
// the client hears it in an alert (over a pipe, a client blocked writing
// may instead see the pipe closed).
func TestManInTheMiddle(t *testing.T) {
	tests := []struct {
		name     string
		password string
		write    int // index of the client's Write to rewrite: 0 preamble, then records
		rewrite  func(b []byte)
		server   want
		client   error // sentinel of the client's error, if it reads the alert
	}{
		{"hide version 2", "pw", 0, func(b []byte) { b[len(magic)+3] = 1 },
			want{ErrAuth, "cannot authenticate noise message 1"}, ErrAuth},
		{"clear password flag", "pw", 0, func(b []byte) { b[len(magic)+4] = 0 },
			want{ErrPassword, "peer sent an unencrypted handshake"}, ErrPassword},
		{"modify noise 1", "pw", 1, func(b []byte) { b[10] ^= 1 },
			want{ErrAuth, "cannot authenticate noise message 1"}, ErrAuth},
		{"modify sealed hello", "pw", 2, func(b []byte) { b[headerSize+3] ^= 1 },
			want{ErrAuth, "hello record failed to decrypt"}, ErrAuth},
		{"zero UID in plain hello", "", 1, func(b []byte) { clear(b[headerSize+1+6 : headerSize+1+14]) },
			want{ErrProtocol, "invalid hello: UID must be non-zero"}, ErrProtocol},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				leakCheck(t)
				c, s := connPair(t, tr.real)
				n := 0
				tap := &tapConn{Conn: c, rewrite: func(b []byte) []byte {
					if n == tt.write {
						tt.rewrite(b)
					}
					n++
					return b
				}}
				cr, sr := handshakePair(t, context.Background(), tap, s,
					withVersions(testConfig(1, tt.password), 1, 2), withVersions(testConfig(2, tt.password), 1, 2))
				checkOutcome(t, "server", sr, tt.server)
				if cr.err == nil {
					t.Fatal("client succeeded")
				}
				t.Logf("client: %v", cr.err)
				if tr.real && (!errors.Is(cr.err, tt.client) || !strings.Contains(cr.err.Error(), "reported by peer")) {
					t.Errorf("client error %v: want the server's alert (%v)", cr.err, tt.client)
				}
			})
		}
	}
}
