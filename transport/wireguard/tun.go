package wireguard

import (
	"os"
	"sync"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
)

// txReq is one Send call handed to the device's TUN reader: the caller's
// batch, encoded straight into the device's message buffers (one copy).
// Send waits on done, so the batch stays the caller's, untouched.
type txReq struct {
	b         *frame.Batch
	via       frame.PeerName
	packet    int               // packet size for the peer's path (PacketSize)
	next      int               // next frame of b to encode
	split     fragment.Splitter // pieces of frame next left to encode, if it goes in pieces
	tooBig    int               // frames dropped for size
	abandoned bool              // Send gave up (device closed); guarded by tunDevice.txMu
	done      chan struct{}
}

// rxReq is one device Write (decrypted packets of one peer) handed to the
// ReceiveFunc, which decodes the packets straight into its batch.
type rxReq struct {
	bufs      [][]byte
	offset    int
	next      int
	abandoned bool // Write gave up (device closed); guarded by Transport.rxMu
	done      chan struct{}
}

// tunDevice is the in-process tun.Device between the Transport and the
// wireguard-go device: Read hands the device the packets of queued Send
// calls, Write hands decrypted packets to the ReceiveFunc. No kernel TUN.
type tunDevice struct {
	t      *Transport
	events chan tun.Event
	closed chan struct{}
	once   sync.Once

	txMu sync.Mutex // guards txCur's contents against an abandoning Send
	// txCur is the request Read is working through; only the device's
	// single TUN-reader goroutine touches it.
	txCur   *txReq
	fragIDs fragment.IDs // numbers the frames cut into pieces
}

var _ tun.Device = (*tunDevice)(nil)

func newTunDevice(t *Transport) *tunDevice {
	return &tunDevice{t: t, events: make(chan tun.Event, 1), closed: make(chan struct{})}
}

// File implements tun.Device.File: there is no file.
func (d *tunDevice) File() *os.File { return nil }

// MTU implements tun.Device.MTU: TunMTU.
func (d *tunDevice) MTU() (int, error) { return TunMTU, nil }

// Name implements tun.Device.Name.
func (d *tunDevice) Name() (string, error) { return "weave-wg", nil }

// Events implements tun.Device.Events. None are sent: the Transport brings
// the device up itself.
func (d *tunDevice) Events() <-chan tun.Event { return d.events }

// BatchSize implements tun.Device.BatchSize.
func (d *tunDevice) BatchSize() int { return conn.IdealBatchSize }

// Close implements tun.Device.Close; it unblocks Read, Write, Send and the
// ReceiveFunc. Idempotent.
func (d *tunDevice) Close() error {
	d.once.Do(func() {
		close(d.closed)
		close(d.events)
	})
	return nil
}

// Read implements tun.Device.Read: it blocks until a Send queues frames,
// and encodes up to len(bufs) of them as IPv6 packets at bufs[i][offset:].
// Only the device's TUN reader calls it.
func (d *tunDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	for {
		if d.txCur == nil {
			select {
			case r := <-d.t.txq:
				d.txCur = r
			case <-d.closed:
				return 0, os.ErrClosed
			}
		}
		if n := d.fill(bufs, sizes, offset); n > 0 {
			return n, nil
		}
	}
}

func (d *tunDevice) fill(bufs [][]byte, sizes []int, offset int) int {
	d.txMu.Lock()
	defer d.txMu.Unlock()
	r := d.txCur
	if r.abandoned {
		d.txCur = nil
		return 0
	}
	n, frames := 0, 0
	for r.next < r.b.N && n < len(bufs) {
		f, m := r.b.Frame(r.next), &r.b.Meta[r.next]
		if !r.split.More() {
			if len(f) < frame.EthernetHeaderSize || len(f) > MaxFrameSize {
				r.next++
				r.tooBig++
				d.t.stats.TxTooBig.Add(1)
				continue
			}
			if encodedSize(f, m) <= r.packet {
				sizes[n] = encode(bufs[n][offset:], f, m, d.t.self, r.via)
				n++
				r.next++
				frames++
				continue
			}
			// A frame too big for one packet goes in pieces of one size
			// (the last may be shorter), so their messages leave as one
			// GSO send.
			r.split.Start(d.fragIDs.Next(), f, pieceData(r.packet, m))
		}
		pc, data, last, _ := r.split.Next()
		sizes[n] = encodePiece(bufs[n][offset:], data, m, d.t.self, r.via, pc)
		n++
		d.t.stats.TxFragments.Add(1)
		if last {
			r.next++
			frames++
		}
	}
	d.t.stats.TxFrames.Add(uint64(frames))
	if r.next >= r.b.N {
		d.txCur = nil
		r.done <- struct{}{}
	}
	return n
}

// Write implements tun.Device.Write: it hands the decrypted packets
// bufs[i][offset:] to the ReceiveFunc and waits until it has decoded them
// (the device reuses the buffers afterwards). If the receive queue is full,
// or the Transport was not opened, the packets are dropped and counted.
// wireguard-go calls it from one goroutine per peer.
func (d *tunDevice) Write(bufs [][]byte, offset int) (int, error) {
	t := d.t
	if !t.opened.Load() {
		t.stats.RxDropped.Add(uint64(len(bufs)))
		return len(bufs), nil
	}
	r := t.rxPool.Get().(*rxReq)
	r.bufs, r.offset, r.next = bufs, offset, 0
	select {
	case t.rxq <- r:
	case <-d.closed:
		return 0, os.ErrClosed
	default:
		t.stats.RxDropped.Add(uint64(len(bufs)))
		r.bufs = nil
		t.rxPool.Put(r)
		return len(bufs), nil
	}
	select {
	case <-r.done:
	case <-d.closed:
		t.rxMu.Lock()
		r.abandoned = true // r may still be queued: not pooled again
		t.rxMu.Unlock()
		return 0, os.ErrClosed
	}
	r.bufs = nil
	t.rxPool.Put(r)
	return len(bufs), nil
}
