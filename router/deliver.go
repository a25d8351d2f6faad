package router

import (
	"encoding/binary"
	"log/slog"
	"sync/atomic"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Delivery workers (Config.Workers; by default only from 4 CPUs on, see
// defaultWorkers). A receive goroutine (one per transport ReceiveFunc)
// reads a batch, filters it, asks the switch, and relays frames for other
// peers itself; the frames for the local bridge go to delivery workers,
// chosen per frame by a hash of its flow (MACs, IP addresses and, for TCP
// and UDP, ports), so that one flow always goes to the same worker and
// stays in order while different flows are written to the TAP on other
// cores. Writing a frame into the TAP is the receive side's biggest cost
// (the kernel runs the container's network stack inside that write), so
// this puts socket reads, decryption and reassembly on one core and TAP
// writes on the others.
//
// Batches are shared, not copied: a batch handed to workers counts its
// references and returns to its receive goroutine's pool when the last
// worker is done. Each worker's queue holds queueDepth batches; when it is
// full, the frames for that worker are dropped at once and counted
// (Counters.RxQueueDrops): ingress drops, never an unbounded queue or a
// stalled socket reader. The pool grows on demand to the most batches
// that can be in flight (workers × (queueDepth + 1) + 1), so an idle
// router holds one batch per receive goroutine.

const queueDepth = 2

// inlineBytes: a receive goroutine writes local frames itself, without a
// hand-off, when no worker has anything queued or in progress and the
// frames total at most this many bytes. Light traffic (a ping, an ACK,
// a DNS query) then pays no goroutine wake-up, and since nothing is in
// flight no flow can be overtaken. Bulk traffic (super-frames) still
// spreads over the workers.
const inlineBytes = 8 << 10

func (r *Router) deliverInline(b *frame.Batch, local []int) bool {
	if r.pending.Load() != 0 {
		return false
	}
	n := 0
	for _, i := range local {
		if n += b.Sizes[i]; n > inlineBytes {
			return false
		}
	}
	return true
}

// rxBatch is a received batch and the frame indexes each worker delivers.
type rxBatch struct {
	g    *readBatch
	b    *frame.Batch // g.b
	eps  []transport.Endpoint
	idx  [][]int // per worker
	refs atomic.Int32
	pool *rxPool
}

// rxPool is one receive goroutine's batches: it takes them, the workers
// give them back.
type rxPool struct {
	free      chan *rxBatch
	allocated int // by the receive goroutine only
	max       int
	newBatch  func() *rxBatch
}

func newRxPool(rs *batchRegions, workers, batchSize, frameSize int) *rxPool {
	p := &rxPool{max: workers*(queueDepth+1) + 1}
	p.free = make(chan *rxBatch, p.max)
	p.newBatch = func() *rxBatch {
		g := rs.newReadBatch(batchSize, frameSize)
		rb := &rxBatch{
			g:    g,
			b:    g.b,
			eps:  make([]transport.Endpoint, batchSize),
			idx:  make([][]int, workers),
			pool: p,
		}
		for w := range rb.idx {
			rb.idx[w] = make([]int, 0, batchSize)
		}
		return rb
	}
	return p
}

// get returns a free batch, making one if none is free and fewer than max
// exist. It blocks only if max are in flight, which the queue bound
// prevents (see above).
func (p *rxPool) get() *rxBatch {
	select {
	case rb := <-p.free:
		return rb
	default:
	}
	if p.allocated < p.max {
		p.allocated++
		return p.newBatch()
	}
	return <-p.free
}

func (p *rxPool) put(rb *rxBatch) {
	for w := range rb.idx {
		rb.idx[w] = rb.idx[w][:0]
	}
	p.free <- rb
}

// release drops one reference to rb, returning it to its pool after the
// last.
func (rb *rxBatch) release() {
	if rb.refs.Add(-1) == 0 {
		rb.pool.put(rb)
	}
}

// deliveryJob is one worker's part of a batch.
type deliveryJob struct {
	rb *rxBatch
	w  int
}

// routineDeliver writes its jobs' frames into the device, in order.
func (r *Router) routineDeliver(w int, q <-chan deliveryJob) {
	defer r.wg.Done()
	for {
		select {
		case <-r.closing:
			return
		case j := <-q:
			idx := j.rb.idx[w]
			if _, err := r.cfg.Device.Write(j.rb.b, idx); err != nil && !isClosed(err) {
				r.counters.devErrors.Add(1)
				r.errLog.Log(slog.LevelError, "writing to the bridge port failed", "err", err)
			}
			r.counters.toDevice.Add(uint64(len(idx)))
			r.pending.Add(-1)
			j.rb.release()
		}
	}
}

// handOff gives the frames rb.idx[w] to the workers and returns whether
// the receive goroutine must take a new batch (some worker holds rb).
func (r *Router) handOff(rb *rxBatch) bool {
	rb.refs.Store(1) // the receive goroutine's, dropped below
	for w, idx := range rb.idx {
		if len(idx) == 0 {
			continue
		}
		rb.refs.Add(1)
		r.pending.Add(1)
		select {
		case r.workers[w] <- deliveryJob{rb, w}:
		default:
			r.counters.rxQueueDrops.Add(uint64(len(idx)))
			rb.refs.Add(-1)
			r.pending.Add(-1)
		}
	}
	if rb.refs.Add(-1) == 0 {
		for w := range rb.idx {
			rb.idx[w] = rb.idx[w][:0]
		}
		return false
	}
	return true
}

// flowHash hashes the flow of Ethernet frame f: MACs, and for IPv4 and
// IPv6 the addresses and, for unfragmented TCP and UDP, the ports. Frames
// of one flow hash alike. It does not allocate.
func flowHash(f []byte) uint32 {
	if len(f) < frame.EthernetHeaderSize {
		return 0
	}
	h := uint32(2166136261)
	mix := func(v uint32) {
		h ^= v
		h *= 16777619
	}
	mix(binary.BigEndian.Uint32(f[0:]))
	mix(binary.BigEndian.Uint32(f[4:]))
	mix(binary.BigEndian.Uint32(f[8:]))
	et := binary.BigEndian.Uint16(f[12:])
	p := f[frame.EthernetHeaderSize:]
	switch {
	case et == 0x0800 && len(p) >= 20:
		mix(binary.BigEndian.Uint32(p[12:]))
		mix(binary.BigEndian.Uint32(p[16:]))
		ihl := int(p[0]&0x0f) * 4
		frag := binary.BigEndian.Uint16(p[6:]) & 0x3fff
		if (p[9] == 6 || p[9] == 17) && frag == 0 && len(p) >= ihl+4 {
			mix(binary.BigEndian.Uint32(p[ihl:]))
		}
	case et == 0x86dd && len(p) >= 40:
		for i := 8; i < 40; i += 4 {
			mix(binary.BigEndian.Uint32(p[i:]))
		}
		if (p[6] == 6 || p[6] == 17) && len(p) >= 44 {
			mix(binary.BigEndian.Uint32(p[40:]))
		}
	}
	return h ^ h>>16
}
