package router

import (
	"sync"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/iomem"
	"github.com/weave-switch/weave-switch/transport"
)

// Batch buffers on demand. A full batch of super-frame buffers is 4 MiB
// (64 × 64 KiB), and a router has one per goroutine that reads frames
// (each TAP queue, each transport ReceiveFunc), though an idle or lightly
// loaded router's reads return one frame or a few. The buffers are in an
// iomem.Region, outside the collected heap: every read is offered the
// whole batch, and a buffer costs only the pages its frames were written
// to (one for a heartbeat or an ACK). Before a read the batch gives back
// the pages of the buffers beyond what the reads of the last one to two
// housekeeping periods (10 to 20 s) needed: a read of n frames needed
// n+1 buffers (one more to show the device or socket was drained), one
// that filled the batch all of it; the batch keeps that many, rounded up
// to a power of two, and at least minBatchBufs. A router with many quiet
// peers, whose reads bring a burst of heartbeats now and then, so holds
// a few pages and not the whole batch.

// minBatchBufs is the number of buffers whose pages a batch always keeps.
const minBatchBufs = 4

// readBatch is a reading goroutine's batch and the region of its buffers.
type readBatch struct {
	b    *frame.Batch
	mem  *iomem.Region
	last int // frames the last read returned
}

// newReadBatch returns a batch of full buffers with room for frames of
// frameSize bytes behind transport.MaxOverhead of headroom.
func newReadBatch(full, frameSize int) *readBatch {
	mem := iomem.New(full, transport.MaxOverhead+frameSize)
	return &readBatch{
		b: &frame.Batch{
			Bufs:   mem.Bufs(full),
			Sizes:  make([]int, full),
			Meta:   make([]frame.Meta, full),
			Offset: transport.MaxOverhead,
		},
		mem: mem,
	}
}

// beforeRead gives back the pages of the buffers beyond what the reads of
// this epoch and the last needed (epoch is the current one). The batch
// must hold no frames anyone still uses. Filters that take frames out of
// a batch swap its buffers, within the frames read; the batch is put back
// in the region's order, so that the next read's n frames are in the
// region's first n buffers.
func (g *readBatch) beforeRead(epoch uint64) {
	for i := range g.last {
		g.b.Bufs[i] = g.mem.Buf(i)
	}
	g.mem.Trim(int64(epoch), minBatchBufs)
}

// afterRead records a read of n frames.
func (g *readBatch) afterRead(n int, epoch uint64) {
	g.last = n
	g.mem.Wrote(int64(epoch), n)
}

// batchRegions are the regions of a router's batches, unmapped when the
// router has stopped: a batch handed to delivery workers may outlive the
// goroutine that read it.
type batchRegions struct {
	mu  sync.Mutex
	all []*iomem.Region
}

// newReadBatch is newReadBatch for a batch whose region rs unmaps.
func (rs *batchRegions) newReadBatch(full, frameSize int) *readBatch {
	g := newReadBatch(full, frameSize)
	rs.mu.Lock()
	rs.all = append(rs.all, g.mem)
	rs.mu.Unlock()
	return g
}

// free unmaps every region. Nothing may use the batches after.
func (rs *batchRegions) free() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for _, m := range rs.all {
		m.Free()
	}
	rs.all = nil
}
