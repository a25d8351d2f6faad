package quictransport

import (
	"fmt"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/transport"
)

// Sizes of the datagram header (see the package doc for the diagram).
const (
	// BaseHeaderSize is src PeerName (6), dst PeerName (6) and flags (1).
	BaseHeaderSize = 2*frame.PeerNameSize + 1
	// GSOSize is the GSO descriptor (frame.GSO.PutWire) that follows the
	// base header if FlagGSO is set.
	GSOSize = frame.GSOWireSize
	// FragHeaderSize is the fragment descriptor (internal/fragment: id,
	// offset and total), after the GSO descriptor if any, if FlagFragment
	// is set.
	FragHeaderSize = fragment.HeaderSize
	// MaxHeaderSize is the largest header: a fragment with a GSO
	// descriptor. It fits transport.MaxOverhead.
	MaxHeaderSize = BaseHeaderSize + GSOSize + FragHeaderSize
)

// Flags of the datagram header. Any other bit makes a datagram malformed.
const (
	FlagGSO      = 0x01
	FlagFragment = 0x02
	knownFlags   = FlagGSO | FlagFragment
)

var _ [transport.MaxOverhead - MaxHeaderSize]struct{} // MaxHeaderSize <= MaxOverhead

// Header is the decoded overlay header of one datagram. ID, Offset and
// Total are meaningful only with FlagFragment, GSO only with FlagGSO.
type Header struct {
	Src, Dst frame.PeerName
	Flags    uint8
	GSO      frame.GSO
	ID       uint32
	Offset   uint32
	Total    uint32
}

// Len returns the encoded size of h: BaseHeaderSize, plus GSOSize with
// FlagGSO, plus FragHeaderSize with FlagFragment.
func (h *Header) Len() int {
	n := BaseHeaderSize
	if h.Flags&FlagGSO != 0 {
		n += GSOSize
	}
	if h.Flags&FlagFragment != 0 {
		n += FragHeaderSize
	}
	return n
}

// Put writes h into b[:h.Len()] and returns h.Len(). It panics if b is
// shorter. It does not allocate.
func (h *Header) Put(b []byte) int {
	n := h.Len()
	_ = b[n-1]
	h.Src.Put(b[0:])
	h.Dst.Put(b[6:])
	b[12] = h.Flags
	off := BaseHeaderSize
	if h.Flags&FlagGSO != 0 {
		h.GSO.PutWire(b[off:])
		off += GSOSize
	}
	if h.Flags&FlagFragment != 0 {
		fragment.Header{ID: h.ID, Offset: h.Offset, Total: h.Total}.Put(b[off:])
	}
	return n
}

// Decode parses the header of datagram d into h and returns its length;
// d[n:] is the frame, or with FlagFragment the fragment's data. A datagram
// is valid if it holds a whole header with only known flags and
//   - without FlagFragment: a frame of frame.EthernetHeaderSize to
//     frame.MaxSuperFrameSize bytes;
//   - with FlagFragment: frame.EthernetHeaderSize <= Total <=
//     frame.MaxSuperFrameSize, at least one byte of data and
//     Offset+len(data) <= Total.
//
// Otherwise Decode returns an error that wraps transport.ErrMalformed. It
// does not allocate on success.
func Decode(d []byte, h *Header) (n int, err error) {
	if len(d) < BaseHeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than a header", transport.ErrMalformed, len(d))
	}
	h.Src = frame.PeerNameFrom(d[0:])
	h.Dst = frame.PeerNameFrom(d[6:])
	h.Flags = d[12]
	if h.Flags&^knownFlags != 0 {
		return 0, fmt.Errorf("%w: unknown flags %#02x", transport.ErrMalformed, h.Flags)
	}
	n = h.Len()
	if len(d) < n {
		return 0, fmt.Errorf("%w: %d bytes, header needs %d", transport.ErrMalformed, len(d), n)
	}
	off := BaseHeaderSize
	h.GSO = frame.GSO{}
	if h.Flags&FlagGSO != 0 {
		h.GSO = frame.GSOFromWire(d[off:])
		off += GSOSize
	}
	data := len(d) - n
	if h.Flags&FlagFragment == 0 {
		h.ID, h.Offset, h.Total = 0, 0, 0
		if data < frame.EthernetHeaderSize || data > frame.MaxSuperFrameSize {
			return 0, fmt.Errorf("%w: frame of %d bytes", transport.ErrMalformed, data)
		}
		return n, nil
	}
	fh := fragment.Get(d[off:])
	h.ID, h.Offset, h.Total = fh.ID, fh.Offset, fh.Total
	if !fh.Check(data) {
		return 0, fmt.Errorf("%w: fragment offset %d, %d bytes, total %d", transport.ErrMalformed, h.Offset, data, h.Total)
	}
	return n, nil
}

// MTU arithmetic (see the package doc). quic-go never sends a UDP payload
// above 1452 bytes (protocol.MaxPacketBufferSize); its path MTU discovery
// climbs from 1280 towards that ceiling by binary search and stops once
// the interval is 20 bytes wide, so on a path that carries 1452 it settles
// at 1431 or more (1444 on loopback). A DATAGRAM's payload is at most the
// packet size minus 40: 1 type byte + 20 (the longest connection ID) + 16
// (AEAD tag) that quic-go reserves, and 3 for the DATAGRAM frame type and
// length.
const (
	quicMaxUDPPayload   = 1452
	quicMTUSearchSlack  = 21
	quicDatagramReserve = 40
	// MaxDatagramPayload is the DATAGRAM payload quic-go accepts at least
	// once path MTU discovery has converged on a path with a 1500-byte MTU:
	// 1452 - 21 - 40 = 1391. Our connections start at the path's full
	// packet size (InitialPacketSize, see pmtu.go), where quic-go accepts
	// 1415: 1452 - 37 (its estimate leaves out the DATAGRAM frame's 3).
	MaxDatagramPayload = quicMaxUDPPayload - quicMTUSearchSlack - quicDatagramReserve
	// MaxWholeFrame is the largest frame guaranteed to go as one datagram
	// then, GSO descriptor included: 1368.
	MaxWholeFrame = MaxDatagramPayload - BaseHeaderSize - GSOSize
	// overhead is Overhead(): 1500 - 1368 = 132, the same on IPv4 and IPv6
	// (quic-go's 1452 cap is 1500 minus IPv6 and UDP headers).
	overhead = 1500 - MaxWholeFrame
)

// Overhead implements transport.Transport.Overhead: 132, so that on a
// 1500-byte underlay the overlay MTU is 1500 - 132 - 14 = 1354 and a frame
// of that MTU, GSO descriptor included, fits one datagram once path MTU
// discovery has converged (until then, a few seconds after connecting,
// such frames go as two fragments). quic-go caps packets at 1452 bytes
// whatever the underlay, so a bigger underlay MTU does not raise this:
// frames above the current datagram maximum are fragmented.
func (t *Transport) Overhead() int { return overhead }
