package memory

import (
	"sync"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// queue is a bounded ring of received frames with a 1-slot notify
// channel: push never blocks, pop copies into the caller's batch.
// Each slot keeps its buffer, so in steady state nothing allocates.
type queue struct {
	mu     sync.Mutex
	slots  []slot
	head   int // index of the oldest frame
	n      int // frames queued
	closed bool

	notify chan struct{} // cap 1; signalled after a push
}

type slot struct {
	buf  []byte
	meta frame.Meta
	ep   transport.Endpoint
}

func newQueue(l int) *queue {
	return &queue{slots: make([]slot, l), notify: make(chan struct{}, 1)}
}

type pushResult int

const (
	pushed pushResult = iota
	pushFull
	pushClosed
)

// push copies fr into the queue.
func (q *queue) push(meta frame.Meta, fr []byte, ep transport.Endpoint) pushResult {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed
	}
	if q.n == len(q.slots) {
		q.mu.Unlock()
		return pushFull
	}
	s := &q.slots[(q.head+q.n)%len(q.slots)]
	s.buf = append(s.buf[:0], fr...)
	s.meta, s.ep = meta, ep
	q.n++
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return pushed
}

// pop moves up to max frames into b and eps. A frame bigger than the room
// in b's buffer is dropped and counted in tooBig. It reports whether the
// queue is closed (then it moves nothing).
func (q *queue) pop(b *frame.Batch, eps []transport.Endpoint, max int) (n, tooBig int, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, 0, true
	}
	for n < max && q.n > 0 {
		s := &q.slots[q.head]
		if room := b.Bufs[n][b.Offset:]; len(room) >= len(s.buf) {
			b.Sizes[n] = copy(room, s.buf)
			b.Meta[n] = s.meta
			eps[n] = s.ep
			n++
		} else {
			tooBig++
		}
		s.ep = nil
		q.head = (q.head + 1) % len(q.slots)
		q.n--
	}
	return n, tooBig, false
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.n = 0
	for i := range q.slots {
		q.slots[i] = slot{}
	}
}
