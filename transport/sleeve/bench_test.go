package sleeve

import (
	"fmt"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

func sizeName(size int) string { return fmt.Sprintf("size=%d", size) }

var benchSizes = []int{64, 1400}

// roundTripper sends a batch from a to b and receives every frame of it,
// allocating nothing.
type roundTripper struct {
	a, b *end
	out  *frame.Batch
	in   *frame.Batch
	eps  []transport.Endpoint
}

func newRoundTripper(t testing.TB, size int) *roundTripper {
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})
	// A generous deadline: a lost datagram fails the run instead of
	// hanging it. Extended on each run.
	b.s.sock.Load().conn.SetReadDeadline(time.Now().Add(time.Minute))
	return &roundTripper{
		a: a, b: b,
		out: makeBatch(repeat(a.s.BatchSize(), size)),
		in:  frame.NewBatch(b.s.BatchSize(), transport.MaxOverhead),
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
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			a := openSleeve(b, Config{Self: peerA})
			dst := openSleeve(b, Config{Self: peerB}) // never read: the kernel drops the excess
			out := makeBatch(repeat(a.s.BatchSize(), size))
			b.ReportAllocs()
			b.SetBytes(int64(out.N * size))
			for b.Loop() {
				if err := a.s.Send(out, dst.ep); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*out.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(sizeName(size), func(b *testing.B) {
			rt := newRoundTripper(b, size)
			b.ReportAllocs()
			b.SetBytes(int64(rt.out.N * size))
			for b.Loop() {
				rt.run(b)
			}
			b.ReportMetric(float64(b.N*rt.out.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
