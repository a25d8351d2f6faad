package wireguard

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/weave-switch/weave-switch/internal/udpbatch"
)

// bind is the transport's conn.Bind: one UDP socket (dual-stack where the
// host has IPv6) with batched receives and UDP GRO, and batched sends that
// put each run of equal-size messages (the pieces of a frame) into one UDP
// GSO message pointing at wireguard-go's own buffers. wireguard-go's
// StdNetBind copies every message of a GSO run into the first one's
// buffer; at 1440-byte pieces that copy was a fifth of the sender's CPU.
// Messages that GRO coalesced on receive are split into wireguard-go's
// buffers (one copy, as StdNetBind does: each message is decrypted in its
// own buffer). Endpoints are kept per source address, so a receive does
// not allocate one per message.
type bind struct {
	initiations *atomic.Uint64 // handshake initiations sent

	mu      sync.Mutex
	conn    *net.UDPConn
	gso     atomic.Bool
	gro     bool
	writers sync.Pool // *udpbatch.Writer
	eps     map[netip.AddrPort]*conn.StdNetEndpoint

	socketBuffer int
}

var _ conn.Bind = (*bind)(nil)

// groReadMessages is how many messages one GRO receive reads: each may
// hold up to 64 coalesced datagrams, split into the following buffers.
const groReadMessages = conn.IdealBatchSize / 64

func newBind(socketBuffer int, initiations *atomic.Uint64) *bind {
	return &bind{socketBuffer: socketBuffer, initiations: initiations}
}

// Open implements conn.Bind.Open.
func (b *bind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		return nil, 0, err
	}
	_, _, _ = udpbatch.SetSocketBuffers(c, b.socketBuffer)
	gso, gro := udpbatch.SetupOffloads(c, true, true)
	b.conn, b.gro = c, gro
	b.gso.Store(gso)
	b.eps = make(map[netip.AddrPort]*conn.StdNetEndpoint)
	b.writers = sync.Pool{New: func() any {
		w, err := udpbatch.NewWriter(c, conn.IdealBatchSize, &b.gso)
		if err != nil {
			return nil
		}
		return w
	}}
	n := conn.IdealBatchSize
	if gro {
		n = groReadMessages
	}
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, 1) // replaced by ReadInto
	}
	r, err := udpbatch.NewReader(c, bufs, gro)
	if err != nil {
		c.Close()
		b.conn = nil
		return nil, 0, err
	}
	return []conn.ReceiveFunc{b.receiveFunc(r)}, uint16(c.LocalAddr().(*net.UDPAddr).Port), nil
}

// receiveFunc reads into wireguard-go's packets. Without GRO it reads
// straight into them; with GRO it reads groReadMessages messages into the
// last buffers and splits the coalesced datagrams forward from the first.
func (b *bind) receiveFunc(r *udpbatch.Reader) conn.ReceiveFunc {
	// The last sender's endpoint, checked before the map (one peer sends
	// most of a batch).
	var lastAP netip.AddrPort
	var lastEP conn.Endpoint
	endpoint := func(ap netip.AddrPort) conn.Endpoint {
		if lastEP == nil || ap != lastAP {
			lastAP, lastEP = ap, b.endpoint(ap)
		}
		return lastEP
	}
	return func(packets [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		if !b.gro {
			n, err := r.ReadInto(packets)
			if err != nil {
				return 0, err
			}
			for i := range n {
				sizes[i], eps[i] = r.Size(i), endpoint(r.Addr(i))
			}
			return n, nil
		}
		at := len(packets) - groReadMessages
		if at < 0 {
			at = 0
		}
		n, err := r.ReadInto(packets[at:])
		if err != nil {
			return 0, err
		}
		out := 0
		for i := range n {
			src, size, seg := packets[at+i], r.Size(i), r.SegSize(i)
			ep := endpoint(r.Addr(i))
			if seg <= 0 || seg >= size {
				seg = size
			}
			for off := 0; off < size && out < len(packets); off += seg {
				end := min(off+seg, size)
				if out != at+i || off != 0 {
					copy(packets[out], src[off:end])
				}
				sizes[out], eps[out] = end-off, ep
				out++
			}
		}
		return out, nil
	}
}

// endpoint returns the endpoint of addr, made once per address.
func (b *bind) endpoint(ap netip.AddrPort) conn.Endpoint {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	b.mu.Lock()
	defer b.mu.Unlock()
	ep := b.eps[ap]
	if ep == nil {
		if len(b.eps) >= 4096 { // bounded: forget all, they are made again
			clear(b.eps)
		}
		ep = &conn.StdNetEndpoint{AddrPort: ap}
		b.eps[ap] = ep
	}
	return ep
}

// Send implements conn.Bind.Send.
func (b *bind) Send(bufs [][]byte, ep conn.Endpoint) error {
	se, ok := ep.(*conn.StdNetEndpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	w, _ := b.writers.Get().(*udpbatch.Writer)
	if w == nil {
		return net.ErrClosed
	}
	defer b.writers.Put(w)
	if len(bufs) == 1 && len(bufs[0]) == device.MessageInitiationSize && bufs[0][0] == device.MessageInitiationType {
		b.initiations.Add(1) // the device sends each handshake message alone
	}
	for len(bufs) > 0 {
		k := min(len(bufs), conn.IdealBatchSize)
		if err := w.Write(bufs[:k], se.AddrPort); err != nil {
			return err
		}
		bufs = bufs[k:]
	}
	return nil
}

// ParseEndpoint implements conn.Bind.ParseEndpoint.
func (b *bind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, err
	}
	return &conn.StdNetEndpoint{AddrPort: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// SetMark implements conn.Bind.SetMark (SO_MARK, for policy routing).
func (b *bind) SetMark(mark uint32) error {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c == nil {
		return nil
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, int(mark))
	}); err != nil {
		return err
	}
	if serr != nil {
		return errors.New("wireguard: SO_MARK " + strconv.FormatUint(uint64(mark), 10) + ": " + serr.Error())
	}
	return nil
}

// opener is the datagram sendOpener sends: shorter than any WireGuard
// message, so that a device (ours or a stock one) drops it unread.
var opener = []byte{0}

// sendOpener sends one opener datagram to ap from the device's socket:
// a NAT or stateful firewall in front of this host then lets the peer's
// datagrams from ap in. A no-op while the bind is closed.
func (b *bind) sendOpener(ap netip.AddrPort) error {
	b.mu.Lock()
	c := b.conn
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	_, err := c.WriteToUDPAddrPort(opener, ap)
	return err
}

// BatchSize implements conn.Bind.BatchSize.
func (b *bind) BatchSize() int { return conn.IdealBatchSize }

// Close implements conn.Bind.Close; Open may be called again.
func (b *bind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.conn = nil
	return err
}
