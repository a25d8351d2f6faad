package router

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// Fast-path heartbeats check the kernel fast path itself (see package
// kernel): the router writes them into its bridge port addressed to the
// peer's heartbeat MAC, the kernel carries them to the peer, whose bridge
// delivers them to that router's port, and the peer answers with an
// ordinary heartbeat of kind hbFastPong over the userspace transport. A
// fast ping is as long as the largest frame the overlay carries (14 +
// MTU), so an answer also proves the path's MTU:
//
//	dst MAC  the peer's heartbeat MAC      src MAC  our heartbeat MAC
//	type     0x88b5
//	payload  kind (1: 3 fast ping) | 1 reserved | total length (2, BE) |
//	         4 reserved | stamp (8, BE) | sender's name (6) |
//	         zeros up to the total length
//
// The stamp is the sender's clock (ns) XORed with a secret random for each
// run; the pong echoes it in its clock field, and the sender accepts only
// a pong whose stamp decodes to a time of the last 10 s. So a container
// that forges fast pings (it can address a router's heartbeat MAC through
// its own bridge) cannot make a peer believe a fast path works.
const (
	hbFastPing   = 3
	hbFastPong   = 4
	fastPingMin  = 36
	fastNameOff  = 30
	fastLenOff   = 16
	fastClockOff = 22
)

// fastPath is the router's fast-path heartbeat state.
type fastPath struct {
	on      atomic.Bool
	selfMAC frame.MAC // written before on is set
	length  int

	mu sync.Mutex // serialises senders and owns b
	b  *frame.Batch

	secret uint64 // XORed into the stamps; written before on is set

	pings, pongs, bad atomic.Uint64
}

// fastPongMaxAge bounds the age of an accepted fast pong's stamp.
const fastPongMaxAge = 10 * time.Second

// EnableFastHeartbeats makes the router answer fast-path heartbeats
// addressed to selfMAC, and sets the fast pings' length to 14 + mtu. Call
// it once, before SendFastHeartbeats.
func (r *Router) EnableFastHeartbeats(selfMAC frame.MAC, mtu int) {
	f := &r.fast
	f.mu.Lock()
	defer f.mu.Unlock()
	f.selfMAC = selfMAC
	var b [8]byte
	_, _ = rand.Read(b[:])
	f.secret = binary.BigEndian.Uint64(b[:])
	f.length = max(frame.EthernetHeaderSize+mtu, fastPingMin)
	f.b = frame.NewBatchSize(1, transport.MaxOverhead, f.length)
	f.on.Store(true)
}

// SendFastHeartbeats writes one fast ping per target into the bridge
// port. It reports how many it wrote.
func (r *Router) SendFastHeartbeats(to []link.FastTarget) int {
	f := &r.fast
	if !f.on.Load() {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := r.mono()
	idx := []int{0}
	sent := 0
	for _, t := range to {
		buf := f.b.Room(0)[:f.length]
		clear(buf)
		copy(buf[0:6], t.MAC[:])
		copy(buf[6:12], f.selfMAC[:])
		binary.BigEndian.PutUint16(buf[12:14], heartbeatType)
		buf[14] = hbFastPing
		binary.BigEndian.PutUint16(buf[fastLenOff:], uint16(f.length))
		binary.BigEndian.PutUint64(buf[fastClockOff:], uint64(now)^f.secret)
		r.cfg.Self.Put(buf[fastNameOff:])
		f.b.Sizes[0] = f.length
		f.b.Meta[0] = frame.Meta{}
		f.b.N = 1
		if _, err := r.cfg.Device.Write(f.b, idx); err != nil {
			r.counters.devErrors.Add(1)
			continue
		}
		sent++
	}
	return sent
}

// takeFastPings removes from b the fast pings addressed to this router
// and answers each over the userspace transport. It keeps the order of
// the other frames and allocates nothing.
func (r *Router) takeFastPings(b *frame.Batch, pong *frame.Batch) {
	f := &r.fast
	if !f.on.Load() {
		return
	}
	self := f.selfMAC
	keep := 0
	for i := range b.N {
		fr := b.Frame(i)
		if len(fr) < frame.EthernetHeaderSize || frame.MAC(fr[0:6]) != self {
			if keep != i {
				b.Bufs[keep], b.Bufs[i] = b.Bufs[i], b.Bufs[keep]
				b.Sizes[keep], b.Meta[keep] = b.Sizes[i], b.Meta[i]
			}
			keep++
			continue
		}
		r.answerFastPing(fr, pong)
	}
	b.N = keep
}

// parseFastPing decodes a fast ping: the sender's name and its stamp. It
// refuses anything that is not a whole fast ping of its declared length.
func parseFastPing(fr []byte) (from frame.PeerName, stamp uint64, ok bool) {
	if len(fr) < fastPingMin || binary.BigEndian.Uint16(fr[12:14]) != heartbeatType || fr[14] != hbFastPing ||
		int(binary.BigEndian.Uint16(fr[fastLenOff:])) != len(fr) {
		return frame.UnknownPeer, 0, false
	}
	return frame.PeerNameFrom(fr[fastNameOff:]), binary.BigEndian.Uint64(fr[fastClockOff:]), true
}

func (r *Router) answerFastPing(fr []byte, pong *frame.Batch) {
	f := &r.fast
	from, stamp, ok := parseFastPing(fr)
	if !ok {
		f.bad.Add(1) // truncated on the way, or not a fast ping
		return
	}
	t := r.peers.table.Load()
	slot, ok := t.byName[from]
	if !ok {
		f.bad.Add(1)
		return
	}
	f.pings.Add(1)
	p := t.list[slot]
	r.sendHeartbeat(pong, p.tr, p.endpoint().ep, from, hbFastPong, 0, int64(stamp))
}

// recordFastPong notes that peer p answered a fast ping with stamp, if the
// stamp is one of ours.
func (r *Router) recordFastPong(p *peer, stamp int64) {
	f := &r.fast
	if !f.on.Load() {
		return
	}
	now := r.mono()
	clock := int64(uint64(stamp) ^ f.secret)
	if age := now - clock; age < 0 || age > int64(fastPongMaxAge) {
		f.bad.Add(1) // forged, or very late
		return
	}
	p.fastAck.Store(now)
	if rtt := now - clock; rtt >= 0 {
		p.fastRTT.Store(rtt)
	}
	r.fast.pongs.Add(1)
}

// FastLinks returns what the router knows of every named neighbour's
// fast path, in table order.
func (r *Router) FastLinks() []link.FastLink {
	t := r.peers.table.Load()
	out := make([]link.FastLink, 0, len(t.list))
	for _, p := range t.list {
		name := p.peerName()
		if name == frame.UnknownPeer {
			continue
		}
		h := link.FastLink{Peer: name, Addr: p.endpoint().addr.Addr(), Encrypted: p.encrypted}
		if ns := p.fastAck.Load(); ns != 0 {
			h.LastAck = r.wall(ns)
			h.RTT = time.Duration(p.fastRTT.Load())
		}
		out = append(out, h)
	}
	return out
}

// FastCounters returns the fast pings answered, the answers received and
// the malformed or unknown fast pings dropped.
func (r *Router) FastCounters() (pings, pongs, bad uint64) {
	return r.fast.pings.Load(), r.fast.pongs.Load(), r.fast.bad.Load()
}
