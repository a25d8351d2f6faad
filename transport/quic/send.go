package quictransport

import (
	"errors"

	quic "github.com/quic-go/quic-go"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/transport"
)

// probeEvery: once a link knows its maximum datagram payload, a frame too
// big for it is still offered whole every probeEvery times, so that the
// link notices when path MTU discovery raised the maximum.
const probeEvery = 256

// Send implements transport.Transport.Send. It sends each frame of
// b.Bufs[:b.N] as one DATAGRAM on the connection to the peer at ep, or,
// if the frame is too big for a datagram, as fragments. Headers are
// written into the headroom (and, for fragments, temporarily over the
// previous fragment's bytes, restored before Send returns), so b.Offset
// must be at least MaxHeaderSize; the frames are left intact and the
// caller keeps b. Send blocks while quic-go's datagram send queue (32
// datagrams per connection) is full. Frames that cannot be sent are
// dropped and counted (Stats); Send then returns an *transport.OpError
// wrapping ErrNoPeer, ErrNoConnection or quic-go's error.
func (t *Transport) Send(b *frame.Batch, ep transport.Endpoint) error {
	if b.N == 0 {
		return nil
	}
	if t.ctx.Err() != nil {
		return transport.ErrClosed
	}
	if b.Offset < MaxHeaderSize {
		return &transport.OpError{Op: "send", Transport: "quic", Peer: ep.String(), Err: errors.New("batch headroom smaller than MaxHeaderSize")}
	}
	p := (*t.byAddr.Load())[ep.DstAddrPort()]
	if p == nil {
		t.stats.dropNoPeer.Add(uint64(b.N))
		return &transport.OpError{Op: "send", Transport: "quic", Peer: ep.String(), Err: ErrNoPeer}
	}
	l := p.link.Load()
	if l == nil {
		t.stats.dropNoConn.Add(uint64(b.N))
		return &transport.OpError{Op: "send", Transport: "quic", Peer: ep.String(), Err: ErrNoConnection}
	}
	for i := range b.N {
		if err := t.sendFrame(l, b, i); err != nil {
			t.stats.dropSendError.Add(uint64(b.N - i))
			return &transport.OpError{Op: "send", Transport: "quic", Peer: ep.String(), Err: err}
		}
	}
	return nil
}

// sendFrame sends frame i of b on l. A nil error with the frame not sent
// means it was dropped and counted (too large).
func (t *Transport) sendFrame(l *link, b *frame.Batch, i int) error {
	m := &b.Meta[i]
	h := Header{Src: m.Src, Dst: m.Dst, GSO: m.GSO}
	if !m.GSO.IsZero() {
		h.Flags = FlagGSO
	}
	buf, off, size := b.Bufs[i], b.Offset, b.Sizes[i]
	hl := h.Len()
	maxp := int(l.maxPayload.Load())
	if maxp == 0 || hl+size <= maxp || l.probe.Add(1)%probeEvery == 0 {
		h.Put(buf[off-hl:])
		err := l.conn.SendDatagram(buf[off-hl : off+size])
		if err == nil {
			t.stats.framesSent.Add(1)
			t.stats.datagramsSent.Add(1)
			return nil
		}
		var tl *quic.DatagramTooLargeError
		if !errors.As(err, &tl) {
			return err
		}
		maxp = int(tl.MaxDatagramPayloadSize)
		l.maxPayload.Store(tl.MaxDatagramPayloadSize)
	}
	// Fragments: header in front of each chunk, over the previous chunk's
	// tail (saved and restored: quic-go copies the payload in
	// SendDatagram).
	h.Flags |= FlagFragment
	hl = h.Len()
	chunk := maxp - hl
	if chunk < 1 {
		t.stats.dropTooLarge.Add(1)
		return nil
	}
	var (
		sp    fragment.Splitter
		saved [MaxHeaderSize]byte
	)
	for sp.Start(t.fragIDs.Next(), buf[off:off+size], chunk); sp.More(); {
		fh, data, _, _ := sp.Next()
		h.ID, h.Offset, h.Total = fh.ID, fh.Offset, fh.Total
		o := off + int(fh.Offset)
		start := o - hl
		copy(saved[:hl], buf[start:o])
		h.Put(buf[start:])
		err := l.conn.SendDatagram(buf[start : o+len(data)])
		copy(buf[start:o], saved[:hl])
		if err != nil {
			var tl *quic.DatagramTooLargeError
			if errors.As(err, &tl) {
				// The maximum shrank under us: give up on this frame.
				l.maxPayload.Store(tl.MaxDatagramPayloadSize)
				t.stats.dropTooLarge.Add(1)
				return nil
			}
			return err
		}
		t.stats.datagramsSent.Add(1)
	}
	t.stats.framesSent.Add(1)
	t.stats.fragmented.Add(1)
	return nil
}
