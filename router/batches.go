package router

import (
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Batch buffers on demand. A full batch of super-frame buffers is 4 MiB
// (64 × 64 KiB), and a router has one per goroutine that reads frames
// (each TAP queue, each transport ReceiveFunc), though an idle or lightly
// loaded router's reads return one frame or a few; and whatever the
// heap holds, the garbage collector lets it grow by as much again before
// it collects. So a reading goroutine's batch starts with minBatchBufs
// buffers, doubles (up to the batch size) after each read that fills it
// — under load it is full after a few reads and stays so — and drops back
// to minBatchBufs before a read once no read has filled it or returned
// more than minBatchBufs frames for one to two housekeeping periods (10
// to 20 s);
// the buffers dropped are the garbage collector's. Readers see the
// buffers they have as the batch's Cap.

// minBatchBufs is the number of buffers a reading goroutine keeps.
const minBatchBufs = 4

// idleEpochs: a batch shrinks when its last big read is this many
// housekeeping periods old.
const idleEpochs = 2

// growBatch is a reading goroutine's batch and what it may grow to.
type growBatch struct {
	b       *frame.Batch
	full    int    // buffers at most
	size    int    // bytes per buffer, headroom included
	lastBig uint64 // housekeeping epoch of the last read of more than minBatchBufs frames
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

// beforeRead drops the buffers beyond minBatchBufs if no big read came
// for idleEpochs housekeeping periods (epoch is the current one). The
// batch must hold no frames anyone still uses.
func (g *growBatch) beforeRead(epoch uint64) {
	if len(g.b.Bufs) > minBatchBufs && epoch-g.lastBig >= idleEpochs {
		clear(g.b.Bufs[minBatchBufs:])
		g.b.Bufs = g.b.Bufs[:minBatchBufs]
	}
}

// afterRead records a read of n frames: a big one (more than
// minBatchBufs frames, or as many as the batch holds) keeps the buffers,
// one that filled the batch doubles it for the next read.
func (g *growBatch) afterRead(n int, epoch uint64) {
	c := len(g.b.Bufs)
	if n > minBatchBufs || n >= c {
		g.lastBig = epoch
	}
	if n >= c && c < g.full {
		g.grow(min(2*c, g.full))
	}
}
