package ethswitch

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

var benchSizes = []int{64, 1500, 9000}

// benchScenario runs one scenario for every frame size, one batch of 128
// frames per op.
func benchScenario(b *testing.B, name string) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			sc := findScenario(b, name, size)
			s, _ := newTestSwitch(b, 0)
			batch := frame.NewBatch(batchSize, 0)
			batch.N = batchSize
			out := make([]Decision, batchSize)
			sc.setup(s, batch)
			b.ReportAllocs()
			b.SetBytes(int64(size * batchSize))
			for b.Loop() {
				sc.run(s, batch, out)
			}
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

func findScenario(b *testing.B, name string, size int) scenario {
	for _, sc := range scenarios(size) {
		if sc.name == name {
			return sc
		}
	}
	b.Fatalf("no scenario %q", name)
	return scenario{}
}

// BenchmarkFromLocal decides batches of known unicast frames captured from
// the bridge: 16 local MACs talking to 16 remote ones.
func BenchmarkFromLocal(b *testing.B) { benchScenario(b, "local known unicast") }

// BenchmarkFromPeer decides batches of unicast frames from three peers to
// local MACs.
func BenchmarkFromPeer(b *testing.B) { benchScenario(b, "peer known unicast") }

// BenchmarkBroadcast covers the flood decisions on both paths.
func BenchmarkBroadcast(b *testing.B) {
	b.Run("local", func(b *testing.B) { benchScenario(b, "local broadcast") })
	b.Run("peer", func(b *testing.B) { benchScenario(b, "peer broadcast") })
}

// BenchmarkNewMACFlood measures the worst case: every frame carries a new
// source MAC, the table (8192) is full, and every frame evicts.
func BenchmarkNewMACFlood(b *testing.B) {
	b.Run("local", func(b *testing.B) { benchScenario(b, "local new MAC flood") })
	b.Run("peer", func(b *testing.B) { benchScenario(b, "peer new MAC flood") })
}

// BenchmarkParallel runs concurrent readers on one Switch, as the router
// does: one goroutine per b.RunParallel worker, each with its own batches,
// alternating FromLocal and FromPeer batches over the same table.
func BenchmarkParallel(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			s, _ := newTestSwitch(b, 0)
			local := findScenario(b, "local known unicast", size)
			peer := findScenario(b, "peer known unicast", size)
			// One pair of batches per worker, prepared before the timer.
			type worker struct {
				local, peer *frame.Batch
				out         []Decision
			}
			workers := make([]worker, runtime.GOMAXPROCS(0))
			for i := range workers {
				w := worker{frame.NewBatch(batchSize, 0), frame.NewBatch(batchSize, 0), make([]Decision, batchSize)}
				w.local.N, w.peer.N = batchSize, batchSize
				local.setup(s, w.local)
				peer.setup(s, w.peer)
				workers[i] = w
			}
			var next atomic.Int32
			b.ReportAllocs()
			b.SetBytes(int64(size * batchSize))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				w := workers[int(next.Add(1)-1)%len(workers)]
				for i := 0; pb.Next(); i++ {
					if i%2 == 0 {
						s.FromLocal(w.local, w.out)
					} else {
						s.FromPeer(w.peer, w.out)
					}
				}
			})
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
