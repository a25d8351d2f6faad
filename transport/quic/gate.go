package quictransport

import (
	"context"
	"sync/atomic"
	"time"
)

// rxGate keeps quic-go's receive queue of 128 DATAGRAM frames per
// connection from overflowing: quic-go drops past it without telling the
// sender, so under load on few cores, while a link's reader goroutine
// waits to be scheduled, whole super-frames (46 datagrams each) would be
// lost and TCP inside would back off.
//
// The gate sits in groConn.ReadBatch, in front of quic-go's only socket
// reader. It counts the packets it hands quic-go that can carry a datagram
// (gateMinPacket bytes or more) and the readers count the datagrams they
// take (gateMinDatagram bytes or more: any such datagram came in a counted
// packet). While more than gateLimit counted packets are unaccounted for,
// ReadBatch waits and new packets wait in the kernel's socket buffer
// instead; if that overflows, QUIC sees the loss and its congestion
// control slows the sender, as it should. The count is an estimate (a
// counted packet may carry no datagram, or only small ones: handshake, MTU
// probe, several TCP ACKs inside one packet; a datagram may sit in a packet
// with more frames than the smallest overhead), so when ReadBatch has
// waited gateStall with every reader blocked on an empty queue, none
// taking anything and quic-go writing no small packet (it writes ACKs
// while it works through packets), the count is halved: a drifted count
// frees itself, and a wrong guess (quic-go still busy with packets it has
// not decrypted yet) lets in half as many as a reset to zero would.
//
// The readers see "empty" with a context that is done but has no error:
// quic-go's ReceiveDatagram then returns a queued datagram, or nothing
// (nil, nil) at once (pollCtx; TestPollContext holds quic-go to it).
type rxGate struct {
	pending  atomic.Int64  // counted packets handed, minus datagrams taken
	readers  atomic.Int32  // reader goroutines running
	idle     atomic.Int32  // of them, blocked after finding their queue empty
	progress atomic.Uint64 // datagrams taken, and quic-go's small writes (groConn)
	waiting  atomic.Bool
	wake     chan struct{}
	timer    *time.Timer // ReadBatch's own (one socket reader)
	waits    atomic.Uint64
	resets   atomic.Uint64
}

const (
	// gateLimit bounds the counted packets between the socket and the
	// readers: below quic-go's 128, with room for one more read and for
	// datagrams the count does not see (small ones). A halving after a
	// stall that was not drift (quic-go itself starved, still holding
	// packets) can let up to gateLimit/2 more in; those are the drops
	// that remain, counted in DropQUICReceive.
	gateLimit = 96
	// gateMinPacket is the smallest packet the gate counts: smaller ones
	// are ACKs and small datagrams (TCP ACKs inside), which would make the
	// count drift on a link that mostly sends.
	gateMinPacket = 256
	// gateMinDatagram is the smallest datagram a reader counts: the
	// smallest packet overhead (1 byte of flags, the 17-byte connection
	// ID, 1 byte of packet number, 1 of frame type, the 16-byte AEAD tag)
	// below gateMinPacket.
	gateMinDatagram = gateMinPacket - (1 + connectionIDLength + 1 + 1 + 16)
	// gateStall is how long ReadBatch waits, with every reader idle and
	// none taking anything, before it assumes the count drifted and
	// halves it.
	gateStall = time.Millisecond
	// groBatch is how many packets quic-go asks ReadBatch for at most.
	groBatch = 8
)

func newRxGate() *rxGate {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &rxGate{wake: make(chan struct{}, 1), timer: t}
}

// wait blocks until n more packets may be handed to quic-go.
func (g *rxGate) wait(n int) {
	if g.pending.Load()+int64(n) <= gateLimit {
		return
	}
	g.waits.Add(1)
	g.waiting.Store(true)
	defer g.waiting.Store(false)
	for g.pending.Load()+int64(n) > gateLimit {
		p := g.progress.Load()
		g.timer.Reset(gateStall)
		select {
		case <-g.wake:
			if !g.timer.Stop() {
				<-g.timer.C
			}
		case <-g.timer.C:
			if g.progress.Load() == p && g.idle.Load() >= g.readers.Load() {
				g.resets.Add(1)
				g.halve()
			}
		}
	}
}

// halve halves the count by compare-and-swap, so that a reader's
// concurrent decrement is not lost.
func (g *rxGate) halve() {
	for {
		p := g.pending.Load()
		if g.pending.CompareAndSwap(p, p/2) {
			return
		}
	}
}

// handed records n counted packets handed to quic-go.
func (g *rxGate) handed(n int) { g.pending.Add(int64(n)) }

// took records a datagram taken by a reader.
func (g *rxGate) took(size int) {
	if size < gateMinDatagram {
		return
	}
	for { // decrement, but not below zero (more taken than counted: small packets, two datagrams in one)
		p := g.pending.Load()
		if p <= 0 || g.pending.CompareAndSwap(p, p-1) {
			break
		}
	}
	g.progress.Add(1)
	g.signal()
}

func (g *rxGate) signal() {
	if g.waiting.Load() {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
}

// pollCtx is its parent context, except that it is always done: while the
// parent has no error, quic-go's ReceiveDatagram returns (nil, nil) with
// it when nothing is queued, instead of blocking; once the parent is
// cancelled, the parent's error.
type pollCtx struct{ context.Context }

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (*pollCtx) Done() <-chan struct{} { return closedChan }
