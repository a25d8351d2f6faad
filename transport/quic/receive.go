package quictransport

import (
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/reassembly"
	"github.com/weave-switch/weave-switch/transport"
)

// Reassembly: each connection's reader reassembles up to linkSlots frames
// at a time, in buffers from one Pool of reassemblyBuffers per Transport
// (frame.MaxSuperFrameSize bytes each, allocated as needed: 4 MiB at
// most). A buffer is held while its frame is reassembled and while the
// frame waits in the receive queue.
const (
	reassemblyBuffers = 64
	linkSlots         = 4
)

// rxFrame is a received frame waiting for the ReceiveFunc: data is either
// (part of) the datagram quic-go handed over, or part of a reassembly
// buffer, buf, that goes back to the pool once copied.
type rxFrame struct {
	data []byte
	buf  *reassembly.Buf
	meta frame.Meta
	ep   transport.Endpoint
}

// recvQueue is a bounded ring of frames between the per-connection
// readers and the ReceiveFunc, with a one-slot notify channel: readers
// never block, they drop when it is full.
type recvQueue struct {
	mu     sync.Mutex
	ring   []rxFrame
	head   int
	n      int
	closed bool
	notify chan struct{}
	done   chan struct{}
}

func newRecvQueue(capacity int) *recvQueue {
	return &recvQueue{ring: make([]rxFrame, capacity), notify: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues f and reports whether there was room.
func (q *recvQueue) push(f rxFrame) bool {
	q.mu.Lock()
	if q.closed || q.n == len(q.ring) {
		q.mu.Unlock()
		return false
	}
	q.ring[(q.head+q.n)%len(q.ring)] = f
	q.n++
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return true
}

// pop moves up to len(out) frames into out and returns how many.
func (q *recvQueue) pop(out []rxFrame) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(len(out), q.n)
	for i := range k {
		out[i] = q.ring[q.head]
		q.ring[q.head] = rxFrame{}
		q.head = (q.head + 1) % len(q.ring)
	}
	q.n -= k
	return k
}

func (q *recvQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.done)
	}
}

// drain releases what is left after close.
func (q *recvQueue) drain(p *reassembly.Pool) {
	var one [1]rxFrame
	for q.pop(one[:]) == 1 {
		p.Put(one[0].buf)
	}
}

// newReceiveFunc returns the Transport's ReceiveFunc. It owns a scratch
// slice of BatchSize entries, so it does not allocate per call.
func (t *Transport) newReceiveFunc() transport.ReceiveFunc {
	scratch := make([]rxFrame, t.BatchSize())
	return func(b *frame.Batch, eps []transport.Endpoint) (int, error) {
		max := min(b.Cap(), len(eps), len(scratch))
		for {
			select {
			case <-t.rq.done:
				return 0, transport.ErrClosed
			default:
			}
			k := t.rq.pop(scratch[:max])
			n := 0
			for i := range k {
				f := &scratch[i]
				if len(f.data) > len(b.Bufs[n])-b.Offset {
					t.stats.dropTooBig.Add(1)
				} else {
					b.Sizes[n] = copy(b.Bufs[n][b.Offset:], f.data)
					b.Meta[n] = f.meta
					eps[n] = f.ep
					n++
				}
				t.pool.Put(f.buf)
				*f = rxFrame{}
			}
			if n > 0 {
				t.stats.framesReceived.Add(uint64(n))
				b.N = n
				return n, nil
			}
			select {
			case <-t.rq.notify:
			case <-t.rq.done:
				return 0, transport.ErrClosed
			}
		}
	}
}

// receiveLoop reads datagrams from l until its connection ends, decoding
// them into the receive queue and reassembling fragmented frames. It never
// blocks on the ReceiveFunc.
func (t *Transport) receiveLoop(l *link) {
	var h Header
	ra := reassembly.NewPooled(linkSlots, t.pool, time.Now, &t.stats.frameDrops)
	defer ra.Reset()
	t.gate.readers.Add(1)
	defer t.gate.readers.Add(-1)
	poll := &pollCtx{t.ctx} // a pointer: boxing it per call would allocate
	for {
		d, err := l.conn.ReceiveDatagram(poll)
		if d == nil && err == nil { // nothing queued: block
			t.gate.idle.Add(1)
			d, err = l.conn.ReceiveDatagram(t.ctx)
			t.gate.idle.Add(-1)
		}
		if err != nil {
			return
		}
		t.gate.took(len(d))
		n, err := Decode(d, &h)
		if err != nil {
			t.stats.dropMalformed.Add(1)
			continue
		}
		meta := frame.Meta{Src: h.Src, Dst: h.Dst, Via: l.p.name, GSO: h.GSO}
		fr, buf := d[n:], (*reassembly.Buf)(nil)
		if h.Flags&FlagFragment != 0 {
			ra.Tick()
			f := reassembly.Fragment{Key: reassembly.Key{Sender: l.p.name, ID: h.ID},
				Meta: meta, Offset: int(h.Offset), Total: int(h.Total), Data: fr}
			var slot int
			var ok bool
			if fr, meta, slot, ok = ra.Add(&f); !ok {
				continue
			}
			buf = ra.Take(slot)
		}
		if !t.rq.push(rxFrame{data: fr, buf: buf, meta: meta, ep: l.p.ep}) {
			t.stats.dropQueueFull.Add(1)
			t.pool.Put(buf)
		}
	}
}
