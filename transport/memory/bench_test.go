package memory

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			n := NewNetwork()
			a := open(b, n, peerA, netip.AddrPort{})
			dst := open(b, n, peerB, netip.AddrPort{})
			out := frame.NewBatch(BatchSize, transport.MaxOverhead)
			sizes := make([]int, BatchSize)
			for i := range sizes {
				sizes[i] = size
			}
			fill(out, sizes, 0, frame.Meta{Src: peerA})
			in := frame.NewBatch(BatchSize, transport.MaxOverhead)
			eps := make([]transport.Endpoint, BatchSize)
			b.ReportAllocs()
			b.SetBytes(int64(BatchSize * size))
			for b.Loop() {
				if err := a.tr.Send(out, dst.ep); err != nil {
					b.Fatal(err)
				}
				for got := 0; got < BatchSize; {
					k, err := dst.recv(in, eps)
					if err != nil {
						b.Fatal(err)
					}
					got += k
				}
			}
			b.ReportMetric(float64(b.N*BatchSize)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
