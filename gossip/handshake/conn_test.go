package handshake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
)

// payloadOf returns n deterministic bytes.
func payloadOf(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) + seed
	}
	return b
}

func TestMessages(t *testing.T) {
	// Around each record buffer's size too: the writer's own (writerKeeps),
	// a borrowed small one (smallRecord), a borrowed big one.
	small := writerKeeps - headerSize - tagSize - 1
	big := smallRecord - headerSize - tagSize - 1
	sizes := []int{0, 1, 100, small - 1, small, small + 1, 1000, big - 1, big, big + 1, maxFragment - 1, maxFragment, maxFragment + 1,
		2*maxFragment - 1, 2 * maxFragment, 300_000, MaxMessageSize}
	for _, tr := range transports {
		for _, pw := range []string{"", "pw"} {
			t.Run(fmt.Sprintf("%s/encrypted=%v", tr.name, pw != ""), func(t *testing.T) {
				leakCheck(t)
				c, s := established(t, tr.real, pw)
				// Both directions at once; writes of big messages block on
				// a pipe until read, so each side writes in a goroutine.
				var wg sync.WaitGroup
				for _, pair := range [][2]*Conn{{c, s}, {s, c}} {
					wg.Go(func() {
						for i, n := range sizes {
							if err := pair[0].WriteMsg(uint8(i), payloadOf(n, byte(i))); err != nil {
								t.Errorf("WriteMsg(%d bytes): %v", n, err)
								return
							}
						}
					})
				}
				for _, conn := range []*Conn{s, c} {
					buf := make([]byte, 0, 1024)
					for i, n := range sizes {
						typ, got, err := conn.ReadMsg(buf)
						if err != nil {
							t.Fatalf("ReadMsg #%d: %v", i, err)
						}
						if typ != uint8(i) || !bytes.Equal(got, payloadOf(n, byte(i))) {
							t.Fatalf("message #%d: type %d, %d bytes; want type %d, %d bytes", i, typ, len(got), i, n)
						}
					}
				}
				wg.Wait()
			})
		}
	}
}

func TestConcurrentWriters(t *testing.T) {
	for _, pw := range []string{"", "pw"} {
		t.Run(fmt.Sprintf("encrypted=%v", pw != ""), func(t *testing.T) {
			leakCheck(t)
			c, s := established(t, true, pw)
			const writers, each = 8, 200
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						msg := fmt.Appendf(nil, "writer %d message %d %s", w, i, payloadOf(i*50, byte(w)))
						if err := c.WriteMsg(uint8(w), msg); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			next := make([]int, writers)
			for range writers * each {
				typ, got, err := s.ReadMsg(nil)
				if err != nil {
					t.Fatal(err)
				}
				w, i := int(typ), next[typ]
				want := fmt.Appendf(nil, "writer %d message %d %s", w, i, payloadOf(i*50, byte(w)))
				if !bytes.Equal(got, want) {
					t.Fatalf("writer %d message %d corrupted or out of order", w, i)
				}
				next[typ]++
			}
			wg.Wait()
		})
	}
}

// TestTampering captures encrypted records on their way to the server and
// delivers them replayed, reordered, dropped or modified: the server must
// refuse every one with ErrAuth (or ErrProtocol for a broken header) and
// stay refused.
func TestTampering(t *testing.T) {
	tests := []struct {
		name     string
		deliver  func(r [][]byte) [][]byte // from the records of messages "a", "b"
		good     int                       // messages read before the error
		sentinel error
	}{
		{"intact", func(r [][]byte) [][]byte { return r }, 2, nil},
		{"replay", func(r [][]byte) [][]byte { return [][]byte{r[0], r[0]} }, 1, ErrAuth},
		{"replay later", func(r [][]byte) [][]byte { return [][]byte{r[0], r[1], r[0]} }, 2, ErrAuth},
		{"reorder", func(r [][]byte) [][]byte { return [][]byte{r[1], r[0]} }, 0, ErrAuth},
		{"drop", func(r [][]byte) [][]byte { return [][]byte{r[1]} }, 0, ErrAuth},
		{"flip body bit", func(r [][]byte) [][]byte { return [][]byte{flip(r[0], headerSize)} }, 0, ErrAuth},
		{"flip tag bit", func(r [][]byte) [][]byte { return [][]byte{flip(r[0], len(r[0])-1)} }, 0, ErrAuth},
		{"flip more flag", func(r [][]byte) [][]byte { return [][]byte{flip(r[0], 1)} }, 0, ErrProtocol},
		{"change kind", func(r [][]byte) [][]byte { return [][]byte{setByte(r[0], 0, byte(kindHello))} }, 0, ErrProtocol},
		{"shorten", func(r [][]byte) [][]byte {
			x := append([]byte(nil), r[0][:len(r[0])-1]...)
			x[3]--
			return [][]byte{x}
		}, 0, ErrAuth},
		{"plaintext record", func(r [][]byte) [][]byte {
			return [][]byte{cat([]byte{byte(kindMsg), 0, 0, 20}, make([]byte, 20))}
		}, 0, ErrAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			cn, sn := connPair(t, true)
			tap := &tapConn{Conn: cn}
			cr, sr := handshakePair(t, context.Background(), tap, sn, testConfig(1, "pw"), testConfig(2, "pw"))
			if cr.err != nil || sr.err != nil {
				t.Fatal(cr.err, sr.err)
			}
			tap.mu.Lock()
			tap.capture = true
			tap.mu.Unlock()
			cr.conn.WriteMsg(1, []byte("message a"))
			cr.conn.WriteMsg(2, []byte("message b"))
			recs := splitRecords(t, tap.written)
			if len(recs) != 2 {
				t.Fatalf("%d records, want 2", len(recs))
			}
			go cn.Write(bytes.Join(tt.deliver(recs), nil))
			for i := range tt.good {
				if _, got, err := sr.conn.ReadMsg(nil); err != nil || string(got) != "message "+string(rune('a'+i)) {
					t.Fatalf("message %d: %q, %v", i, got, err)
				}
			}
			if tt.sentinel == nil {
				return
			}
			_, _, err := sr.conn.ReadMsg(nil)
			if !errors.Is(err, tt.sentinel) {
				t.Fatalf("ReadMsg: %v, want %v", err, tt.sentinel)
			}
			t.Log(err)
			if _, _, again := sr.conn.ReadMsg(nil); again != err {
				t.Errorf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	b = append([]byte(nil), b...)
	b[i] ^= 1
	return b
}

func setByte(b []byte, i int, v byte) []byte {
	b = append([]byte(nil), b...)
	b[i] = v
	return b
}

func TestTooBig(t *testing.T) {
	leakCheck(t)
	c, _ := established(t, false, "pw")
	if err := c.WriteMsg(1, make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrTooBig) {
		t.Fatalf("WriteMsg(MaxMessageSize+1): %v, want ErrTooBig", err)
	}

	// A stream whose record headers announce more than MaxMessageSize:
	// 16 full fragments with flagMore, then the header of a 17th and
	// nothing more. The reader must refuse at that header (had it tried
	// to read the body, it would report a truncated record instead),
	// having allocated nothing beyond what actually arrived.
	full := cat([]byte{byte(kindMsg), flagMore, 0xff, 0xef}, make([]byte, maxFragment))
	var stream []byte
	for range 16 {
		stream = append(stream, full...)
	}
	stream = append(stream, full[:headerSize]...)
	rr := recordReader{r: bytes.NewReader(stream)}
	buf := make([]byte, 0, MaxMessageSize)
	rr.big = new(recordBuf) // given back and taken again by every read
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, err := rr.readMessage(kindMsg, buf, MaxMessageSize)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("readMessage: %v, want ErrTooBig", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<10 {
		t.Errorf("allocated %d bytes while refusing", n)
	}

	// The same through a Conn: a hello capped at MaxHelloSize.
	stream = cat(full[:headerSize], make([]byte, maxFragment), []byte{byte(kindHello), 0, 0xff, 0xef})
	stream[0] = byte(kindHello)
	rr = recordReader{r: bytes.NewReader(stream)}
	if _, _, err := rr.readMessage(kindHello, nil, MaxHelloSize); !errors.Is(err, ErrTooBig) {
		t.Fatalf("oversize hello: %v, want ErrTooBig", err)
	}
}

func TestClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			c, s := established(t, tr.real, "pw")
			done := make(chan error, 1)
			go func() { _, _, err := c.ReadMsg(nil); done <- err }()
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, net.ErrClosed) {
				t.Errorf("blocked ReadMsg after Close: %v, want net.ErrClosed", err)
			}
			if err := c.WriteMsg(1, nil); !errors.Is(err, net.ErrClosed) {
				t.Errorf("WriteMsg after Close: %v, want net.ErrClosed", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			// The peer sees a clean end of stream.
			if _, _, err := s.ReadMsg(nil); !errors.Is(err, io.EOF) {
				t.Errorf("peer ReadMsg: %v, want io.EOF", err)
			}
		})
	}
}

func TestNonceExhausted(t *testing.T) {
	cs := newCipherState([32]byte{1})
	cs.n = 1<<64 - 1
	if _, err := cs.seal(nil, []byte("x"), nil); !errors.Is(err, errNonceExhausted) {
		t.Fatalf("seal at the last nonce: %v", err)
	}
}

func TestAllocs(t *testing.T) {
	c, s := established(t, true, "pw")
	msg := payloadOf(1000, 1)
	buf := make([]byte, 0, 2048)
	allocs := testing.AllocsPerRun(100, func() {
		if err := c.WriteMsg(3, msg); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.ReadMsg(buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per message, want 0", allocs)
	}
}
