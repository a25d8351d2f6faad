package sleeve

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/iomem"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"github.com/weave-switch/weave-switch/transport"
)

// Receive buffers. With UDP GRO the kernel may put up to 64 KiB of
// datagrams in one buffer, so each ReceiveFunc reads at most groMessages
// of groBufSize (4 MiB); without it, BatchSize buffers of one datagram
// (MaxDatagramSize+1 bytes, the extra byte to tell oversize datagrams).
//
// They are in an iomem.Region, outside the collected heap: every read is
// offered all of them, and a buffer costs only the pages its datagrams
// were written to (one for a heartbeat). Before a read the receiver gives
// back the pages of the buffers beyond what the reads of the last one to
// two periods of recvEpoch needed (a read of n messages needed n+1
// buffers, one that filled them all of them), rounded up to a power of
// two: a router whose peers are quiet, each read bringing a heartbeat or
// a burst of them, keeps the pages of minRecvBufs or a few more.
const (
	groMessages = 64
	groBufSize  = 64 << 10
	minRecvBufs = 4
	recvEpoch   = 10 * time.Second
)

// receiver is the state of one ReceiveFunc: its receive buffers, the
// messages read but not yet decoded, the datagrams left in the current
// message, the frames left in the current datagram and the frames being
// reassembled. It is used by one goroutine at a time (the ReceiveFunc
// contract), so it needs no lock.
type receiver struct {
	s   *Sleeve
	br  *udpbatch.Reader
	mem *iomem.Region // the buffers br reads into

	n, next int    // messages [next, n) of the last read are not split yet
	msg     []byte // datagrams of the current message not decoded yet
	seg     int    // their size (the last may be shorter)
	from    netip.AddrPort
	fromEP  transport.Endpoint
	cur     Reader // frames left in the current datagram
	auth    bool   // the current datagram was opened with its sender's key

	// A frame completed by a fragment and not delivered yet.
	pending     bool
	pendingFr   []byte
	pendingMeta frame.Meta
	pendingSlot int
	pendingEP   transport.Endpoint

	ra  *reassembler
	eps epCache

	// Encrypted datagrams are opened into plain (MaxDatagramSize bytes),
	// which the current datagram's frames then alias.
	plain []byte
	nonce [12]byte
}

func newReceiver(s *Sleeve, conn *net.UDPConn, gro bool, now func() time.Time) (*receiver, error) {
	n, size := s.cfg.BatchSize, MaxDatagramSize+1
	if gro {
		n, size = min(n, groMessages), groBufSize
	}
	mem := iomem.New(n, size)
	br, err := udpbatch.NewReader(conn, mem.Bufs(n), gro)
	if err != nil {
		mem.Free()
		return nil, err
	}
	return &receiver{
		s: s, br: br, mem: mem, eps: newEPCache(),
		ra:    newReassembler(reassemblySlots, now, &s.stats),
		plain: make([]byte, MaxDatagramSize),
	}, nil
}

// free unmaps the receive buffers once the socket is closed: the
// receiver reads no more, and no frame it returned aliases them (drain
// copies frames out).
func (r *receiver) free() {
	r.msg, r.cur = nil, Reader{}
	r.mem.Free()
}

// receive is the ReceiveFunc. It first hands out frames of datagrams
// already read (leftovers of the previous call); only when there are none
// does it read the socket, blocking until at least one datagram arrives.
// Encrypted datagrams are opened (authenticated, decrypted, checked
// against the replay window of their sender's key) before decoding, and
// their frames carry Meta.Authenticated: Via, the datagram's sender, is
// proven, whatever the source address.
// Malformed datagrams, and those refused by encryption (plaintext to an
// encrypting Sleeve, no key, failed authentication, replayed), are dropped
// and counted, never returned as errors; so are frames bigger than the
// room in b's buffers (len(b.Bufs[i]) - b.Offset): a super-frame needs
// frame.MaxSuperFrameSize bytes.
func (r *receiver) receive(b *frame.Batch, eps []transport.Endpoint) (int, error) {
	b.N = 0
	if r.s.closed.Load() {
		r.free()
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
		period := r.s.now().UnixNano() / int64(recvEpoch)
		// Every message of the last read has been decoded and its frames
		// copied out: nothing aliases the pages Trim gives back.
		r.mem.Trim(period, minRecvBufs)
		n, err := r.br.Read()
		if err != nil {
			if r.s.closed.Load() || errors.Is(err, net.ErrClosed) {
				r.free()
				return 0, transport.ErrClosed
			}
			r.s.log.Log(slog.LevelError, "receive failed", "err", err)
			return 0, r.s.opError("receive", "", err)
		}
		r.n, r.next = n, 0
		r.ra.Tick()
		r.mem.Wrote(period, n)
	}
}

// drain copies up to limit pending frames into b and eps.
func (r *receiver) drain(b *frame.Batch, eps []transport.Endpoint, limit int) int {
	k := 0
	for k < limit {
		var meta frame.Meta
		var fr []byte
		var ep transport.Endpoint
		if r.pending {
			meta, fr, ep = r.pendingMeta, r.pendingFr, r.pendingEP
		} else {
			var ok bool
			if meta, fr, ok = r.cur.Next(); !ok {
				if !r.nextDatagram() {
					break
				}
				continue
			}
			meta.Authenticated = r.auth
			ep = r.fromEP
		}
		if room := b.Bufs[k][b.Offset:]; len(room) >= len(fr) {
			b.Sizes[k] = copy(room, fr)
			b.Meta[k] = meta
			eps[k] = ep
			k++
		} else {
			r.s.stats.frameDrops[FrameDropTooBig].Add(1)
		}
		if r.pending {
			r.ra.Release(r.pendingSlot)
			r.pending, r.pendingFr, r.pendingEP = false, nil, nil
		}
	}
	return k
}

// nextDatagram decodes datagrams of the last read until one yields frames
// (it becomes current) or completes a frame (it becomes pending). It
// reports false when none is left.
func (r *receiver) nextDatagram() bool {
	for {
		if len(r.msg) == 0 && !r.nextMessage() {
			return false
		}
		d := r.msg[:min(r.seg, len(r.msg))]
		r.msg = r.msg[len(d):]
		size := len(d)
		r.s.stats.receivedDatagrams.Add(1)
		r.s.stats.receivedBytes.Add(uint64(size))
		if size > MaxDatagramSize {
			r.s.drop(DropOversize, 0, size, size, r.from)
			continue
		}
		auth := false
		if size >= HeaderSize && d[0] == Version {
			if d[1]&FlagEncrypted != 0 {
				p, reason, val := r.s.keys.table.Load().open(d, r.plain, &r.nonce, r.ra.Now())
				if reason != dropNone {
					r.s.drop(reason, 0, val, size, r.from)
					continue
				}
				d, auth = p, true
			} else if r.s.cfg.Encrypt {
				r.s.drop(DropPlaintext, 1, int(d[1]), size, r.from)
				continue
			}
		}
		if reason, off, val := r.cur.reset(d); reason != dropNone {
			r.s.drop(reason, off, val, size, r.from)
			continue
		}
		if r.cur.More() {
			r.auth = auth
			return true
		}
		// A fragment.
		r.s.stats.receivedFragments.Add(1)
		f := &r.cur.frag
		fr, meta, slot, ok := r.ra.add(r.from, f)
		f.Data = nil
		if ok {
			// Every fragment was authenticated only if the Sleeve
			// refuses plaintext.
			meta.Authenticated = auth && r.s.cfg.Encrypt
			r.s.stats.reassembled.Add(1)
			r.pending, r.pendingFr, r.pendingMeta, r.pendingSlot, r.pendingEP = true, fr, meta, slot, r.fromEP
			return true
		}
	}
}

// nextMessage makes the next message of the last read current. It
// reports false when none is left.
func (r *receiver) nextMessage() bool {
	for r.next < r.n {
		i := r.next
		r.next++
		size := r.br.Size(i)
		r.from = r.br.Addr(i)
		if r.br.Truncated(i) {
			r.s.stats.receivedDatagrams.Add(1)
			r.s.stats.receivedBytes.Add(uint64(size))
			r.s.drop(DropOversize, 0, size, size, r.from)
			continue
		}
		if size == 0 {
			r.s.stats.receivedDatagrams.Add(1)
			r.s.drop(DropShort, 0, 0, 0, r.from)
			continue
		}
		r.msg = r.mem.Buf(i)[:size]
		r.seg = size
		if seg := r.br.SegSize(i); seg > 0 && seg < size {
			r.seg = seg
			r.s.stats.groReceives.Add(1)
		}
		r.fromEP = r.eps.get(r.from)
		return true
	}
	return false
}

// drop counts a malformed datagram and logs it, rate-limited.
func (s *Sleeve) drop(reason DropReason, off, val, size int, from netip.AddrPort) {
	s.stats.dropped[reason].Add(1)
	if ok, suppressed := s.log.Allow(slog.LevelDebug); ok {
		err := &DecodeError{Reason: reason, Offset: off, Value: val, Size: size}
		s.log.Slog().Debug("dropping datagram", "from", from, "err", err, "suppressed", suppressed)
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
