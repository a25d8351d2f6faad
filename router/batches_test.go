package router

import (
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// TestGrowBatch: a batch starts with minBatchBufs buffers, doubles after
// each read that fills it up to its full size, and before a read drops
// back to what the reads of the current and the last housekeeping
// periods needed (a power of two, at least minBatchBufs); the buffers it
// keeps are whole.
func TestGrowBatch(t *testing.T) {
	g := newGrowBatch(64, frame.MaxSuperFrameSize)
	if c := g.b.Cap(); c != minBatchBufs {
		t.Fatalf("new batch holds %d buffers, want %d", c, minBatchBufs)
	}
	var caps []int
	epoch := uint64(0)
	for range 6 { // reads that fill whatever the batch holds
		g.beforeRead(epoch)
		n := g.b.Cap()
		g.afterRead(n, epoch)
		caps = append(caps, g.b.Cap())
	}
	if want := []int{8, 16, 32, 64, 64, 64}; !slices.Equal(caps, want) {
		t.Fatalf("caps after filling reads %v, want %v", caps, want)
	}
	for i := range g.b.Cap() {
		if len(g.b.Bufs[i]) != transport.MaxOverhead+frame.MaxSuperFrameSize {
			t.Fatalf("buffer %d is %d bytes", i, len(g.b.Bufs[i]))
		}
	}
	// Small reads: the buffers stay while the last period's big reads
	// count, then go.
	epoch++
	g.beforeRead(epoch)
	g.afterRead(1, epoch)
	if g.b.Cap() != 64 {
		t.Fatalf("shrunk %d periods after a big read", 1)
	}
	epoch++
	g.beforeRead(epoch)
	if c := g.b.Cap(); c != minBatchBufs {
		t.Fatalf("%d buffers after periods of reads of one frame, want %d", c, minBatchBufs)
	}
	if got := g.b.Bufs[:cap(g.b.Bufs)][minBatchBufs]; got != nil {
		t.Fatal("a dropped buffer is still referenced")
	}
	// A read that fills grows at once; one that does not, not.
	g.afterRead(minBatchBufs, epoch)
	if g.b.Cap() != 2*minBatchBufs {
		t.Fatalf("filled: %d buffers, want %d", g.b.Cap(), 2*minBatchBufs)
	}
	g.afterRead(minBatchBufs+1, epoch)
	if g.b.Cap() != 2*minBatchBufs {
		t.Fatalf("a read that did not fill: %d buffers", g.b.Cap())
	}
	// Reads of exactly minBatchBufs frames into a batch of minBatchBufs
	// grow it and keep it grown: no shrinking and growing again every
	// other period.
	epoch += 5
	g.beforeRead(epoch)
	if g.b.Cap() != minBatchBufs {
		t.Fatalf("%d buffers after idle periods", g.b.Cap())
	}
	for range 4 {
		g.beforeRead(epoch)
		g.afterRead(minBatchBufs, epoch)
		epoch++
	}
	if g.b.Cap() != 2*minBatchBufs {
		t.Fatalf("reads of %d frames: %d buffers, want %d", minBatchBufs, g.b.Cap(), 2*minBatchBufs)
	}
	// A burst grows the batch to its full size; then reads of a few
	// frames each (a router with many quiet peers) need 8 buffers: the
	// batch drops to 8, not to minBatchBufs, and not kept whole.
	for range 4 {
		g.beforeRead(epoch)
		g.afterRead(g.b.Cap(), epoch)
	}
	if g.b.Cap() != 64 {
		t.Fatalf("after a burst: %d buffers", g.b.Cap())
	}
	for range 3 {
		epoch++
		for _, n := range []int{5, 2, 7, 3} {
			g.beforeRead(epoch)
			g.afterRead(n, epoch)
		}
	}
	if c := g.b.Cap(); c != 8 {
		t.Fatalf("reads of up to 7 frames: %d buffers, want 8", c)
	}
	// A batch smaller than minBatchBufs never grows or shrinks.
	s := newGrowBatch(1, frame.MaxFrameSize)
	s.afterRead(1, 0)
	s.beforeRead(10)
	if s.b.Cap() != 1 {
		t.Fatalf("batch of 1: %d buffers", s.b.Cap())
	}
}

// TestGrowBatchAllocs: reads at a steady size allocate nothing.
func TestGrowBatchAllocs(t *testing.T) {
	g := newGrowBatch(64, frame.MaxFrameSize)
	for range 5 {
		g.afterRead(g.b.Cap(), 0)
	}
	allocs := testing.AllocsPerRun(100, func() {
		g.beforeRead(1)
		g.afterRead(40, 1)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per read", allocs)
	}
}

// TestDispatcherViewsGrowWithTraffic: a peer's view starts with room for
// viewStart frames and grows, up to the batch size, as a batch brings it
// more, keeping every frame in order; a peer that gets one frame keeps a
// small view.
func TestDispatcherViewsGrowWithTraffic(t *testing.T) {
	const bs = 64
	d := newDispatcher(nil, bs)
	src := frame.NewBatch(bs, 0)
	src.N = 50
	for i := range src.N {
		src.Sizes[i] = i + 1
		src.Meta[i].Dst = frame.PeerName(i)
	}
	for i := range src.N {
		d.add(0, src, i)
	}
	d.add(1, src, 7)
	big, small := d.views[0], d.views[1]
	if big.N != 50 || len(big.Bufs) != bs || len(big.Sizes) != bs || len(big.Meta) != bs {
		t.Fatalf("view of 50 frames: N %d, room %d/%d/%d, want 50 in %d", big.N, len(big.Bufs), len(big.Sizes), len(big.Meta), bs)
	}
	for i := range big.N {
		if big.Sizes[i] != i+1 || big.Meta[i].Dst != frame.PeerName(i) || &big.Bufs[i][0] != &src.Bufs[i][0] {
			t.Fatalf("frame %d out of place after growing", i)
		}
	}
	if small.N != 1 || len(small.Bufs) != viewStart || small.Sizes[0] != 8 {
		t.Errorf("view of one frame: N %d, room %d, size %d; want 1 in %d, size 8", small.N, len(small.Bufs), small.Sizes[0], viewStart)
	}
}
