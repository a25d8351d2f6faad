package router

import (
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/demand"
	"github.com/weave-switch/weave-switch/transport"
)

// Batch buffers on demand. A full batch of super-frame buffers is 4 MiB
// (64 × 64 KiB), and a router has one per goroutine that reads frames
// (each TAP queue, each transport ReceiveFunc), though an idle or lightly
// loaded router's reads return one frame or a few; and whatever the
// heap holds, the garbage collector lets it grow by as much again before
// it collects. So a reading goroutine's batch starts with minBatchBufs
// buffers and doubles (up to the batch size) after each read that fills
// it — under load it is full after a few reads and stays so. Before a
// read it drops back to what the reads of the last one to two
// housekeeping periods (10 to 20 s) needed: a read of n frames into a
// batch that had more room needed n+1 buffers (one more to show the
// socket was drained), one that filled it twice what it had; the batch
// keeps that, rounded up to a power of two, and at least minBatchBufs.
// A router with many quiet peers, whose reads bring a few heartbeats
// each, so keeps a few buffers and not the whole batch. The buffers
// dropped are the garbage collector's. Readers see the buffers they
// have as the batch's Cap.

// minBatchBufs is the number of buffers a reading goroutine keeps.
const minBatchBufs = 4

// growBatch is a reading goroutine's batch and what it may grow to.
type growBatch struct {
	b    *frame.Batch
	full int // buffers at most
	size int // bytes per buffer, headroom included
	// needs is what the reads of this housekeeping epoch and the last
	// needed.
	needs demand.Window
}

// newGrowBatch returns a batch of up to full buffers with room for
// frames of frameSize bytes behind transport.MaxOverhead of headroom,
// holding min(full, minBatchBufs) of them.
func newGrowBatch(full, frameSize int) *growBatch {
	g := &growBatch{
		b: &frame.Batch{
			Bufs:   make([][]byte, 0, full),
			Sizes:  make([]int, full),
			Meta:   make([]frame.Meta, full),
			Offset: transport.MaxOverhead,
		},
		full: full,
		size: transport.MaxOverhead + frameSize,
	}
	g.grow(min(full, minBatchBufs))
	return g
}

// grow adds buffers until the batch has n.
func (g *growBatch) grow(n int) {
	for len(g.b.Bufs) < n {
		g.b.Bufs = append(g.b.Bufs, make([]byte, g.size))
	}
}

// beforeRead drops the buffers beyond what the reads of this epoch and
// the last needed (epoch is the current one). The batch must hold no
// frames anyone still uses.
func (g *growBatch) beforeRead(epoch uint64) {
	c := len(g.b.Bufs)
	if keep := g.needs.Keep(int64(epoch), c, minBatchBufs); keep < c {
		clear(g.b.Bufs[keep:])
		g.b.Bufs = g.b.Bufs[:keep]
	}
}

// afterRead records a read of n frames: one that filled the batch
// doubles it for the next read.
func (g *growBatch) afterRead(n int, epoch uint64) {
	c := len(g.b.Bufs)
	need := n + 1
	if n >= c {
		need = min(2*c, g.full)
		g.grow(need)
	}
	g.needs.Note(int64(epoch), need)
}
