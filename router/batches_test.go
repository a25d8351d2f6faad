package router

import (
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// TestReadBatch: every read is offered the whole batch; before a read the
// batch gives back the pages of the buffers beyond what the reads of the
// current and the last housekeeping periods needed (a power of two, at
// least minBatchBufs).
func TestReadBatch(t *testing.T) {
	g := newReadBatch(64, frame.MaxSuperFrameSize)
	defer g.mem.Free()
	if c := g.b.Cap(); c != 64 {
		t.Fatalf("new batch offers %d buffers, want 64", c)
	}
	for i := range g.b.Cap() {
		if len(g.b.Bufs[i]) != transport.MaxOverhead+frame.MaxSuperFrameSize {
			t.Fatalf("buffer %d is %d bytes", i, len(g.b.Bufs[i]))
		}
	}
	if d := g.mem.Dirty(); d != 0 {
		t.Fatalf("new batch: %d buffers written", d)
	}
	epoch := uint64(0)
	read := func(n int) {
		t.Helper()
		g.beforeRead(epoch)
		if g.b.Cap() != 64 {
			t.Fatalf("a read is offered %d buffers, want 64", g.b.Cap())
		}
		for i := range n {
			g.b.Bufs[i][g.b.Offset] = 1
		}
		g.afterRead(n, epoch)
	}
	read(64) // a burst
	// Small reads: the pages stay while the last period's big read counts,
	// then go.
	epoch++
	read(1)
	if d := g.mem.Dirty(); d != 64 {
		t.Fatalf("%d buffers keep pages one period after a full read, want 64", d)
	}
	epoch++
	g.beforeRead(epoch)
	if d := g.mem.Dirty(); d != minBatchBufs {
		t.Fatalf("%d buffers keep pages after periods of reads of one frame, want %d", d, minBatchBufs)
	}
	if g.b.Bufs[minBatchBufs][g.b.Offset] != 0 || g.b.Bufs[0][g.b.Offset] != 1 {
		t.Fatal("the pages given back are not those of the buffers past the kept ones")
	}
	// Reads of a few frames each (a router with many quiet peers) need 8
	// buffers: the batch keeps the pages of 8, not of minBatchBufs, nor
	// of all it was written to.
	epoch += 5
	read(40)
	for range 3 {
		epoch++
		for _, n := range []int{5, 2, 7, 3} {
			read(n)
		}
	}
	if d := g.mem.Dirty(); d != 8 {
		t.Fatalf("reads of up to 7 frames: %d buffers keep pages, want 8", d)
	}
	// A filter that swapped buffers within the frames read: the next read
	// finds the batch in the region's order.
	read(3)
	g.b.Bufs[0], g.b.Bufs[2] = g.b.Bufs[2], g.b.Bufs[0]
	g.beforeRead(epoch)
	for i := range 3 {
		if &g.b.Bufs[i][0] != &g.mem.Buf(i)[0] {
			t.Fatalf("buffer %d is not the region's buffer %d after a swap", i, i)
		}
	}
	// A batch of fewer buffers than minBatchBufs keeps them.
	s := newReadBatch(1, frame.MaxFrameSize)
	defer s.mem.Free()
	s.afterRead(1, 0)
	s.beforeRead(10)
	if s.b.Cap() != 1 || s.mem.Dirty() != 1 {
		t.Fatalf("batch of 1: %d buffers, %d with pages", s.b.Cap(), s.mem.Dirty())
	}
}

// TestReadBatchAllocs: reads at a steady size allocate nothing.
func TestReadBatchAllocs(t *testing.T) {
	g := newReadBatch(64, frame.MaxFrameSize)
	defer g.mem.Free()
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
