package quictransport

import (
	"sync"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// reassemblyBuffers bounds the frame.MaxSuperFrameSize buffers a
// Transport holds for reassembled frames: one in progress per link plus
// the ones waiting in the receive queue (allocated as needed, so 4 MiB at
// most under load). With 16, once the receive gate had stopped quic-go's
// drops, running out of them was the larger part of what was left: the
// bench's QUIC drops fell by a third with 64.
const reassemblyBuffers = 64

type superBuf = [frame.MaxSuperFrameSize]byte

// bufPool is a bounded free list of reassembly buffers, allocated lazily.
type bufPool struct {
	mu    sync.Mutex
	free  []*superBuf
	made  int
	limit int
}

func newBufPool(limit int) *bufPool { return &bufPool{limit: limit} }

// get returns a buffer, or nil if all limit buffers are in use.
func (p *bufPool) get() *superBuf {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	if p.made == p.limit {
		return nil
	}
	p.made++
	return new(superBuf)
}

func (p *bufPool) put(b *superBuf) {
	if b == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// rxFrame is a received frame waiting for the ReceiveFunc: data is either
// (part of) the datagram quic-go handed over, or buf[:len] of a
// reassembly buffer that goes back to the pool once copied.
type rxFrame struct {
	data []byte
	buf  *superBuf
	meta frame.Meta
	ep   transport.Endpoint
}

// recvQueue is a bounded ring of frames between the per-connection
// readers and the ReceiveFunc, with a one-slot notify channel (STYLE
// rule 9): readers never block, they drop when it is full.
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
func (q *recvQueue) drain(p *bufPool) {
	var one [1]rxFrame
	for q.pop(one[:]) == 1 {
		p.put(one[0].buf)
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
				t.pool.put(f.buf)
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

// reassembly is the one frame being reassembled on a link. Fragments of a
// frame must arrive in order (QUIC datagrams on one path normally do); a
// gap or a new frame abandons the one in progress (DropReassembly).
type reassembly struct {
	buf  *superBuf
	id   uint32
	got  uint32
	h    Header
	busy bool
}

// receiveLoop reads datagrams from l until its connection ends, decoding
// them into the receive queue. It never blocks on the ReceiveFunc.
func (t *Transport) receiveLoop(l *link) {
	var (
		h  Header
		ra reassembly
	)
	defer func() { t.pool.put(ra.buf) }()
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
		if h.Flags&FlagFragment == 0 {
			if !t.rq.push(rxFrame{data: d[n:], meta: meta, ep: l.p.ep}) {
				t.stats.dropQueueFull.Add(1)
			}
			continue
		}
		data := d[n:]
		if h.Offset == 0 {
			if ra.busy {
				t.stats.dropReassembly.Add(1)
			}
			if ra.buf == nil {
				ra.buf = t.pool.get()
			}
			if ra.buf == nil {
				ra.busy = false
				t.stats.dropReassembly.Add(1)
				continue
			}
			ra.busy, ra.id, ra.got, ra.h = true, h.ID, 0, h
		} else if !ra.busy || h.ID != ra.id || h.Offset != ra.got || h.Total != ra.h.Total {
			if ra.busy {
				ra.busy = false
				t.stats.dropReassembly.Add(1)
			}
			continue
		}
		copy(ra.buf[ra.got:], data)
		ra.got += uint32(len(data))
		if ra.got < ra.h.Total {
			continue
		}
		ra.busy = false
		meta = frame.Meta{Src: ra.h.Src, Dst: ra.h.Dst, Via: l.p.name, GSO: ra.h.GSO}
		if t.rq.push(rxFrame{data: ra.buf[:ra.got], buf: ra.buf, meta: meta, ep: l.p.ep}) {
			ra.buf = nil
		} else {
			t.stats.dropQueueFull.Add(1)
		}
	}
}
