package sleeve

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// receiver is the state of one ReceiveFunc: its datagram buffers, the
// datagrams read but not yet delivered and the frames left in the current
// one. It is used by one goroutine at a time (the ReceiveFunc contract), so
// it needs no lock.
type receiver struct {
	s    *Sleeve
	br   *batchReader
	bufs [][]byte // BatchSize buffers of MaxDatagramSize+1 bytes

	n, next int                // datagrams [next, n) of the last read are not decoded yet
	cur     Reader             // frames left in the current datagram
	curEP   transport.Endpoint // its sender
	eps     epCache
}

func newReceiver(s *Sleeve, conn *net.UDPConn) (*receiver, error) {
	const size = MaxDatagramSize + 1 // one more byte to tell oversize datagrams
	n := s.cfg.BatchSize
	backing := make([]byte, n*size)
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = backing[i*size : (i+1)*size : (i+1)*size]
	}
	br, err := newBatchReader(conn, bufs)
	if err != nil {
		return nil, err
	}
	return &receiver{s: s, br: br, bufs: bufs, eps: newEPCache()}, nil
}

// receive is the ReceiveFunc. It first hands out frames of datagrams
// already read (leftovers of the previous call); only when there are none
// does it read the socket, blocking until at least one datagram arrives.
// Malformed datagrams are dropped and counted, never returned as errors.
// The batch's buffers must have room for frame.MaxFrameSize bytes after
// b.Offset (frame.NewBatch's do); it panics otherwise.
func (r *receiver) receive(b *frame.Batch, eps []transport.Endpoint) (int, error) {
	b.N = 0
	if r.s.closed.Load() {
		return 0, transport.ErrClosed
	}
	limit := min(b.Cap(), len(eps))
	if limit == 0 {
		return 0, nil
	}
	for {
		if k := r.drain(b, eps, limit); k > 0 {
			b.N = k
			r.s.stats.receivedFrames.Add(uint64(k))
			return k, nil
		}
		n, err := r.br.read()
		if err != nil {
			if r.s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return 0, transport.ErrClosed
			}
			if r.s.log.Errorf != nil {
				if ok, _ := r.s.limiter.allow(); ok {
					r.s.log.Errorf("sleeve: receive: %v", err)
				}
			}
			return 0, r.s.opError("receive", "", err)
		}
		r.n, r.next = n, 0
	}
}

// drain copies up to limit pending frames into b and eps.
func (r *receiver) drain(b *frame.Batch, eps []transport.Endpoint, limit int) int {
	k := 0
	for k < limit {
		meta, fr, ok := r.cur.Next()
		if !ok {
			if !r.nextDatagram() {
				break
			}
			continue
		}
		room := b.Bufs[k][b.Offset:]
		if len(room) < len(fr) {
			panic(fmt.Sprintf("sleeve: batch buffer %d has room for %d bytes, frame is %d", k, len(room), len(fr)))
		}
		b.Sizes[k] = copy(room, fr)
		b.Meta[k] = meta
		eps[k] = r.curEP
		k++
	}
	return k
}

// nextDatagram makes the next valid datagram of the last read current. It
// reports false when none is left.
func (r *receiver) nextDatagram() bool {
	for r.next < r.n {
		i := r.next
		r.next++
		size, from := r.br.size(i), r.br.addr(i)
		r.s.stats.receivedDatagrams.Add(1)
		r.s.stats.receivedBytes.Add(uint64(size))
		if size > MaxDatagramSize {
			r.s.drop(DropOversize, 0, size, size, from)
			continue
		}
		if reason, off, val := r.cur.reset(r.bufs[i][:size]); reason != dropNone {
			r.s.drop(reason, off, val, size, from)
			continue
		}
		r.curEP = r.eps.get(from)
		return true
	}
	return false
}

// drop counts a malformed datagram and logs it, rate-limited.
func (s *Sleeve) drop(reason DropReason, off, val, size int, from netip.AddrPort) {
	s.stats.dropped[reason].Add(1)
	if s.log.Verbosef == nil {
		return
	}
	if ok, suppressed := s.limiter.allow(); ok {
		err := &DecodeError{Reason: reason, Offset: off, Value: val, Size: size}
		if suppressed > 0 {
			s.log.Verbosef("sleeve: dropping datagram from %s: %v (%d similar messages suppressed)", from, err, suppressed)
		} else {
			s.log.Verbosef("sleeve: dropping datagram from %s: %v", from, err)
		}
	}
}

// maxCachedEndpoints bounds an epCache: past it the cache starts over.
const maxCachedEndpoints = 4096

// epCache maps sender addresses to Endpoint values boxed once, so that
// filling eps does not allocate per frame.
type epCache struct {
	last   netip.AddrPort
	lastEP transport.Endpoint
	m      map[netip.AddrPort]transport.Endpoint
}

func newEPCache() epCache {
	return epCache{m: make(map[netip.AddrPort]transport.Endpoint)}
}

func (c *epCache) get(ap netip.AddrPort) transport.Endpoint {
	if c.lastEP != nil && ap == c.last {
		return c.lastEP
	}
	ep, ok := c.m[ap]
	if !ok {
		if len(c.m) >= maxCachedEndpoints {
			clear(c.m)
		}
		ep = transport.AddrPortEndpoint(ap) // allocates once per new sender address
		c.m[ap] = ep
	}
	c.last, c.lastEP = ap, ep
	return ep
}
