package memory

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// BatchSize is what Transport.BatchSize returns.
const BatchSize = 128

var (
	errNotOpen     = errors.New("not open")
	errAlreadyOpen = errors.New("already open")
)

var _ transport.Transport = (*Transport)(nil)

// Transport is one peer's attachment to a Network. Its methods are safe for
// concurrent use, except that its single ReceiveFunc must be called from one
// goroutine at a time.
type Transport struct {
	net  *Network
	self frame.PeerName
	want netip.AddrPort // as given to NewTransport
	q    *queue

	mu     sync.Mutex // guards Open and Close
	local  atomic.Pointer[netip.AddrPort]
	ep     transport.Endpoint // local, boxed once at Open
	closed atomic.Bool
	done   chan struct{} // closed by Close

	stats struct {
		sent, received, queueDrops, lost, cut, unreachable, tooBig atomic.Uint64
	}
}

// Stats are a Transport's counters, in frames.
type Stats struct {
	Sent        uint64 // accepted by Send (all that follow, except QueueDrops, count sent frames)
	Lost        uint64 // dropped by Network.SetLoss
	Cut         uint64 // dropped on a link cut by Network.Cut
	Unreachable uint64 // no open Transport at the destination
	Received    uint64 // returned by the ReceiveFunc
	QueueDrops  uint64 // dropped on arrival because the receive queue was full
	TooBig      uint64 // dropped on receive: bigger than the room in the caller's batch buffer
}

func newTransport(n *Network, self frame.PeerName, addr netip.AddrPort, queueLen int) *Transport {
	return &Transport{net: n, self: self, want: addr, q: newQueue(queueLen), done: make(chan struct{})}
}

// Open implements transport.Transport.Open: it attaches t to its Network
// and returns one ReceiveFunc.
func (t *Transport) Open() ([]transport.ReceiveFunc, netip.AddrPort, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, netip.AddrPort{}, transport.ErrClosed
	}
	if t.local.Load() != nil {
		return nil, netip.AddrPort{}, t.opError("open", "", errAlreadyOpen)
	}
	addr, err := t.net.attach(t, t.want)
	if err != nil {
		return nil, netip.AddrPort{}, t.opError("open", "", err)
	}
	t.ep = transport.AddrPortEndpoint(addr)
	t.local.Store(&addr)
	return []transport.ReceiveFunc{t.receive}, addr, nil
}

// LocalAddr returns the address t is attached at, or the zero AddrPort
// before Open.
func (t *Transport) LocalAddr() netip.AddrPort {
	if a := t.local.Load(); a != nil {
		return *a
	}
	return netip.AddrPort{}
}

// Send implements transport.Transport.Send. It copies each frame and its
// Meta (Src, Dst and GSO; Via becomes the sender's name) into the
// destination's receive queue, or drops it (lost, cut, unreachable, queue
// full) and counts it; it never blocks. A frame shorter than
// frame.EthernetHeaderSize or longer than frame.MaxSuperFrameSize is
// skipped, the others are still sent, and Send returns an
// *transport.OpError naming the first bad one. It returns
// transport.ErrClosed after Close.
func (t *Transport) Send(b *frame.Batch, ep transport.Endpoint) error {
	if t.closed.Load() {
		return transport.ErrClosed
	}
	src := t.local.Load()
	if src == nil {
		return t.opError("send", ep.String(), errNotOpen)
	}
	dst := ep.DstAddrPort()
	n := t.net
	n.mu.Lock()
	defer n.mu.Unlock()
	peer := n.nodes[dst]
	_, cut := n.cuts[newLink(*src, dst)]
	bad := -1
	for i := range b.N {
		size := b.Sizes[i]
		if size < frame.EthernetHeaderSize || size > frame.MaxSuperFrameSize {
			if bad < 0 {
				bad = i
			}
			continue
		}
		t.stats.sent.Add(1)
		lost := n.loss > 0 && n.rng.Float64() < n.loss
		switch {
		case lost:
			t.stats.lost.Add(1)
		case cut:
			t.stats.cut.Add(1)
		case peer == nil:
			t.stats.unreachable.Add(1)
		default:
			meta := b.Meta[i]
			meta.Via = t.self
			switch peer.q.push(meta, b.Frame(i), t.ep) {
			case pushFull:
				peer.stats.queueDrops.Add(1)
			case pushClosed:
				t.stats.unreachable.Add(1)
			}
		}
	}
	if bad >= 0 {
		return t.opError("send", ep.String(), fmt.Errorf("frame %d: size %d out of range [%d, %d]",
			bad, b.Sizes[bad], frame.EthernetHeaderSize, frame.MaxSuperFrameSize))
	}
	return nil
}

// receive is the ReceiveFunc: it blocks until frames are queued or t is
// closed. A frame bigger than the room in b's buffers (a super-frame needs
// frame.MaxSuperFrameSize) is dropped and counted in Stats.TooBig.
func (t *Transport) receive(b *frame.Batch, eps []transport.Endpoint) (int, error) {
	limit := min(b.Cap(), len(eps))
	for {
		n, tooBig, closed := t.q.pop(b, eps, limit)
		if tooBig > 0 {
			t.stats.tooBig.Add(uint64(tooBig))
		}
		if closed {
			b.N = 0
			return 0, transport.ErrClosed
		}
		if n > 0 || limit == 0 {
			b.N = n
			t.stats.received.Add(uint64(n))
			return n, nil
		}
		select {
		case <-t.q.notify:
		case <-t.done:
		}
	}
}

// ParseEndpoint implements transport.Transport.ParseEndpoint: s must be a
// literal IP:port; no name resolution.
func (t *Transport) ParseEndpoint(s string) (transport.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("memory: invalid endpoint: %w", err)
	}
	return transport.AddrPortEndpoint(ap), nil
}

// BatchSize implements transport.Transport.BatchSize.
func (t *Transport) BatchSize() int { return BatchSize }

// Overhead implements transport.Transport.Overhead: the memory transport
// adds none.
func (t *Transport) Overhead() int { return 0 }

// Close implements transport.Transport.Close: it detaches t, drops its
// queued frames and unblocks its ReceiveFunc, which returns an error that Is
// net.ErrClosed. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Swap(true) {
		return nil
	}
	if a := t.local.Load(); a != nil {
		t.net.detach(*a, t)
	}
	t.q.close()
	close(t.done)
	return nil
}

// Stats returns a snapshot of t's counters.
func (t *Transport) Stats() Stats {
	return Stats{
		Sent:        t.stats.sent.Load(),
		Lost:        t.stats.lost.Load(),
		Cut:         t.stats.cut.Load(),
		Unreachable: t.stats.unreachable.Load(),
		Received:    t.stats.received.Load(),
		QueueDrops:  t.stats.queueDrops.Load(),
		TooBig:      t.stats.tooBig.Load(),
	}
}

func (t *Transport) opError(op, peer string, err error) error {
	return &transport.OpError{Op: op, Transport: "memory", Peer: peer, Err: err}
}
