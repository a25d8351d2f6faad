package handshake

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"
)

// BenchmarkThroughput measures messages over TCP loopback, one writer
// goroutine and one reader, encrypted and plain. It uses b.N (not b.Loop)
// because the reader must know how many messages to expect.
func BenchmarkThroughput(b *testing.B) {
	for _, pw := range []string{"", "pw"} {
		for _, size := range []int{64, 1024, 16 << 10, 256 << 10} {
			name := fmt.Sprintf("encrypted=%v/%d", pw != "", size)
			b.Run(name, func(b *testing.B) {
				c, s := established(b, true, pw)
				msg := payloadOf(size, 1)
				buf := make([]byte, 0, size)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				b.ResetTimer()
				errc := make(chan error, 1)
				go func() {
					for range b.N {
						if err := c.WriteMsg(1, msg); err != nil {
							errc <- err
							return
						}
					}
					errc <- nil
				}()
				for range b.N {
					if _, _, err := s.ReadMsg(buf); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-errc; err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			})
		}
	}
}

// BenchmarkHandshake measures a whole handshake, client and server, over
// TCP loopback (connection set-up excluded). The PSK is cached (derived
// before the timer starts), as it is for every handshake but the first.
func BenchmarkHandshake(b *testing.B) {
	for _, pw := range []string{"", "pw"} {
		b.Run(fmt.Sprintf("encrypted=%v", pw != ""), func(b *testing.B) {
			if pw != "" {
				derivePSK([]byte(pw))
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				c, s := connPair(b, true)
				b.StartTimer()
				cr, sr := handshakePair(b, context.Background(), c, s, testConfig(1, pw), testConfig(2, pw))
				if cr.err != nil || sr.err != nil {
					b.Fatal(cr.err, sr.err)
				}
				b.StopTimer()
				cr.conn.Close()
				sr.conn.Close()
				b.StartTimer()
			}
		})
	}
}

// BenchmarkArgon2 is the one-off cost of stretching a password (the first
// handshake of a process pays it; later ones hit the cache).
func BenchmarkArgon2(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		argon2.IDKey([]byte("correct horse battery staple"), []byte(argonSalt), argonTime, argonMemory, argonThreads, 32)
	}
}
