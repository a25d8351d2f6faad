package sleeve

import (
	"net/netip"
	"testing"
	"time"
)

// sealBatchLen is the datagrams of a "batch" in the seal and open
// benchmarks: what one flush of 64 full-sized frames carries.
const sealBatchLen = 64

// cryptoBench is the state of the seal and open benchmarks: a send key of
// cipher c, a send state laid out with n plaintext datagrams of size
// bytes (header and body) in the arena, and a key table that opens them.
type cryptoBench struct {
	key   *sendKey
	st    *sendState
	table *keyTable
	plain [][]byte // the plaintext datagrams, to reset the arena from
	out   []byte
	nonce [12]byte
}

func newCryptoBench(b *testing.B, c Cipher, n, size int) *cryptoBench {
	s, err := New(Config{Self: peerB, Encrypt: true})
	if err != nil {
		b.Fatal(err)
	}
	ab := testKey("bench/a->b")
	if err := s.SetCipherKeys(peerA, netip.AddrPort{}, c, testKey("bench/b->a"), ab); err != nil {
		b.Fatal(err)
	}
	cb := &cryptoBench{
		key:   &sendKey{key: ab, cipher: c, aead: newAEAD(c, ab)},
		st:    &sendState{arena: make([]byte, 0, n*(size+EncryptionOverhead))},
		table: s.keys.table.Load(),
		out:   make([]byte, MaxDatagramSize),
	}
	body := testFrame(size-HeaderSize, 7)
	for range n {
		p := append(AppendHeaderFlags(nil, peerA, 0), body...)
		cb.plain = append(cb.plain, p)
	}
	cb.layout()
	return cb
}

// layout puts the plaintext datagrams in the arena, as Send leaves them
// for seal.
func (cb *cryptoBench) layout() {
	st := cb.st
	st.reset()
	for _, p := range cb.plain {
		lo := len(st.arena)
		st.arena = append(st.arena[:lo+CounterSize], p...)
		st.arena = encryptedLayout(st.arena, lo)
		st.add(st.arena[lo:], dgram{})
	}
}

// BenchmarkSeal seals full-sized datagrams (1448 bytes of plaintext, what
// a 1472-byte encrypted datagram carries) in place, one per call (frame)
// or sealBatchLen per call (batch), with each cipher. Sealing in place
// over its own output is what a second call sees; the cost is the same.
func BenchmarkSeal(b *testing.B) {
	for _, c := range testCiphers {
		for _, n := range []int{1, sealBatchLen} {
			name := "frame"
			if n > 1 {
				name = "batch"
			}
			b.Run(c.String()+"/"+name, func(b *testing.B) {
				cb := newCryptoBench(b, c, n, 1448)
				b.ReportAllocs()
				b.SetBytes(int64(n * 1448))
				for b.Loop() {
					if err := cb.st.seal(cb.key); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "datagrams/s")
			})
		}
	}
}

// BenchmarkOpen authenticates and decrypts full-sized datagrams, one per
// iteration (frame) or sealBatchLen (batch), with each cipher. The replay
// window is moved out of the way between iterations, so that every open
// runs the whole path.
func BenchmarkOpen(b *testing.B) {
	for _, c := range testCiphers {
		for _, n := range []int{1, sealBatchLen} {
			name := "frame"
			if n > 1 {
				name = "batch"
			}
			b.Run(c.String()+"/"+name, func(b *testing.B) {
				cb := newCryptoBench(b, c, n, 1448)
				if err := cb.st.seal(cb.key); err != nil {
					b.Fatal(err)
				}
				k := cb.table.recv[peerA].cur
				now := time.Now()
				b.ReportAllocs()
				b.SetBytes(int64(n * 1448))
				for b.Loop() {
					resetWindow(&k.window)
					for _, d := range cb.st.bufs {
						if _, reason, _ := cb.table.open(d, cb.out, &cb.nonce, now); reason != dropNone {
							b.Fatal(reason)
						}
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "datagrams/s")
			})
		}
	}
}

// TestCryptoAllocs pins seal and open at zero allocations, both ciphers.
func TestCryptoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, c := range testCiphers {
		b := &testing.B{}
		cb := newCryptoBench(b, c, 8, 1448)
		if got := testing.AllocsPerRun(100, func() {
			if err := cb.st.seal(cb.key); err != nil {
				t.Fatal(err)
			}
		}); got != 0 {
			t.Errorf("%v: seal: %v allocs, want 0", c, got)
		}
		k, now := cb.table.recv[peerA].cur, time.Now()
		if got := testing.AllocsPerRun(100, func() {
			resetWindow(&k.window)
			for _, d := range cb.st.bufs {
				if _, reason, _ := cb.table.open(d, cb.out, &cb.nonce, now); reason != dropNone {
					t.Fatal(reason)
				}
			}
		}); got != 0 {
			t.Errorf("%v: open: %v allocs, want 0", c, got)
		}
	}
}

// resetWindow empties w, as for a new key.
func resetWindow(w *replayWindow) {
	w.last = 0
	clear(w.ring[:])
}
