package sleeve

import (
	"fmt"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

func sizeName(size int) string { return fmt.Sprintf("size=%d", size) }

// benchSizes are frame sizes: packed, one per datagram, and a TCP
// super-frame with GSO offload information (fragmented, UDP GSO/GRO).
var benchSizes = []int{64, 1400, superSize}

// encBenchSizes are the sizes of the encrypted variants.
var encBenchSizes = []int{1400, superSize}

const (
	superSize = 65000
	// superBatchLen is the number of super-frames per round trip: 1 MiB,
	// well within the 8 MiB receive buffer even without GRO.
	superBatchLen = 16
)

// benchBatch returns the batch to send for size: a full batch, or
// superBatchLen super-frames with TCPv4 GSO offload information.
func benchBatch(s *Sleeve, size int) *frame.Batch {
	if size <= frame.MaxFrameSize {
		return makeBatch(repeat(s.BatchSize(), size))
	}
	return withGSO(makeBatch(repeat(superBatchLen, size)))
}

// roundTripper sends a batch from a to b and receives every frame of it,
// allocating nothing.
type roundTripper struct {
	a, b *end
	out  *frame.Batch
	in   *frame.Batch
	eps  []transport.Endpoint
}

// encModes are the variants of the benchmarks and allocation tests:
// plaintext (noEncryption), then each cipher.
var encModes = []Cipher{noEncryption, ChaCha20Poly1305, AES256GCM}

// noEncryption, as an encryption mode of the tests, is plaintext.
const noEncryption = CipherAuto

// encName prefixes name with the encryption mode c.
func encName(c Cipher, name string) string {
	if c == noEncryption {
		return name
	}
	return "encrypted/" + c.String() + "/" + name
}

// newRoundTripper returns a roundTripper for frames of size; with a
// cipher c, both sleeves encrypt, with keys for c set for each other.
func newRoundTripper(t testing.TB, size int, c Cipher) *roundTripper {
	enc := c != noEncryption
	a := openSleeve(t, Config{Self: peerA, Encrypt: enc})
	b := openSleeve(t, Config{Self: peerB, Encrypt: enc})
	if enc {
		setCipherKeys(t, a, b, "round trip", c)
	}
	// A generous deadline: a lost datagram fails the run instead of
	// hanging it. Extended on each run.
	b.s.sock.Load().conn.SetReadDeadline(time.Now().Add(time.Minute))
	room := frame.MaxFrameSize
	if size > room {
		room = frame.MaxSuperFrameSize
	}
	return &roundTripper{
		a: a, b: b,
		out: benchBatch(a.s, size),
		in:  frame.NewBatchSize(b.s.BatchSize(), transport.MaxOverhead, room),
		eps: make([]transport.Endpoint, b.s.BatchSize()),
	}
}

func (rt *roundTripper) run(t testing.TB) {
	if err := rt.a.s.Send(rt.out, rt.b.ep); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < rt.out.N; {
		k, err := rt.b.recv(rt.in, rt.eps)
		if err != nil {
			t.Fatalf("after %d of %d frames: %v", got, rt.out.N, err)
		}
		got += k
	}
}

func BenchmarkSend(b *testing.B) {
	for _, c := range encModes {
		sizes := benchSizes
		if c != noEncryption {
			sizes = encBenchSizes
		}
		for _, size := range sizes {
			b.Run(encName(c, sizeName(size)), func(b *testing.B) { benchmarkSend(b, c, size) })
		}
	}
}

func benchmarkSend(b *testing.B, c Cipher, size int) {
	enc := c != noEncryption
	a := openSleeve(b, Config{Self: peerA, Encrypt: enc})
	dst := openSleeve(b, Config{Self: peerB}) // never read: the kernel drops the excess
	if enc {
		setCipherKeys(b, a, dst, "send", c)
	}
	out := benchBatch(a.s, size)
	b.ReportAllocs()
	b.SetBytes(int64(out.N * size))
	for b.Loop() {
		if err := a.s.Send(out, dst.ep); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*out.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkRoundTrip sends and receives over 127.0.0.1 on one goroutine;
// Gbit/s counts frame bytes (b.SetBytes), so MB/s*8/1000. The encrypted/
// variants seal and open every datagram with each cipher.
func BenchmarkRoundTrip(b *testing.B) {
	run := func(b *testing.B, size int, c Cipher) {
		rt := newRoundTripper(b, size, c)
		b.ReportAllocs()
		b.SetBytes(int64(rt.out.N * size))
		for b.Loop() {
			rt.run(b)
		}
		sec := b.Elapsed().Seconds()
		b.ReportMetric(float64(b.N*rt.out.N)/sec, "frames/s")
		b.ReportMetric(float64(b.N*rt.out.N*size)*8/sec/1e9, "Gbit/s")
	}
	for _, c := range encModes {
		sizes := benchSizes
		if c != noEncryption {
			sizes = encBenchSizes
		}
		for _, size := range sizes {
			b.Run(encName(c, sizeName(size)), func(b *testing.B) { run(b, size, c) })
		}
	}
}
