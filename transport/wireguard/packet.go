package wireguard

import (
	"encoding/binary"
	"fmt"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/transport"
)

// Sizes and constants of the encapsulation (see the package doc).
const (
	// IPv6HeaderSize is the fixed IPv6 header in front of every frame.
	IPv6HeaderSize = 40
	// HeaderSize is the overlay header after the IPv6 header:
	// version(1) flags(1) src PeerName(6) dst PeerName(6).
	HeaderSize = 2 + 2*frame.PeerNameSize
	// GSOSize is the GSO descriptor (frame.GSO.PutWire) that follows the
	// header if FlagGSO.
	GSOSize = frame.GSOWireSize
	// Version is the overlay header version.
	Version = 1
	// FlagGSO marks a header followed by a GSO descriptor (Meta.GSO non-zero).
	FlagGSO = 0x01
	// FlagFragment marks a packet carrying one piece of a frame: the header
	// (and GSO descriptor) is followed by a fragment descriptor.
	FlagFragment = 0x02
	// FragmentSize is the fragment descriptor (internal/fragment): frame
	// id, byte offset of this piece and the frame's total length,
	// big-endian uint32s.
	FragmentSize = fragment.HeaderSize
	// NextHeader is the IPv6 next-header value of an encapsulated frame:
	// 253, "use for experimentation and testing" (RFC 3692, RFC 4727). The
	// payload is our overlay header followed by the frame, so neither 143
	// (Ethernet, RFC 8986) nor 97 (EtherIP, RFC 3378) would describe it
	// truthfully.
	NextHeader = 253
	// HopLimit is the IPv6 hop limit the sender writes (receivers ignore it).
	HopLimit = 64

	// TunMTU is the MTU of the in-process TUN device given to wireguard-go:
	// the largest IPv6 packet (header included) one WireGuard message
	// carries. 65472 is the largest multiple of 16 (WireGuard pads to 16)
	// whose message, 65472+32 bytes, fits a UDP datagram over IPv4
	// (65507 bytes of payload).
	TunMTU = 65472
	// MaxWholeFrame is the largest frame (Ethernet header included) one
	// packet can carry whole: TunMTU less the IPv6 and overlay headers and
	// the GSO descriptor. Senders cut frames into pieces long before that
	// (see PacketSize); receivers accept whole frames up to it.
	MaxWholeFrame = TunMTU - IPv6HeaderSize - HeaderSize - GSOSize
	// MaxFrameSize is the largest frame Send carries (in pieces): a full
	// GSO super-frame.
	MaxFrameSize = frame.MaxSuperFrameSize
	// MinPacketSize is the least packet size a path MTU may bring pieces
	// down to: the IPv6 minimum MTU less nothing, so that even a 1280-byte
	// underlay carries pieces of a few hundred bytes.
	MinPacketSize = 512
)

// Prefix is the /80 the per-peer link addresses live in: a peer's address
// is fd77:7773::<48-bit PeerName> (the name in the last 6 bytes).
var prefix = [10]byte{0xfd, 0x77, 0x77, 0x73}

// PeerAddr returns the IPv6 link address of peer n, fd77:7773::<n>.
func PeerAddr(n frame.PeerName) [16]byte {
	var a [16]byte
	copy(a[:], prefix[:])
	n.Put(a[10:])
	return a
}

// peerFromAddr returns the PeerName of a link address, or false if a is not
// in the prefix or names UnknownPeer.
func peerFromAddr(a []byte) (frame.PeerName, bool) {
	if [10]byte(a[:10]) != prefix {
		return 0, false
	}
	n := frame.PeerNameFrom(a[10:16])
	return n, n != frame.UnknownPeer
}

// headerSize returns the bytes in front of the frame data in a packet.
func headerSize(m *frame.Meta, frag bool) int {
	n := IPv6HeaderSize + HeaderSize
	if !m.GSO.IsZero() {
		n += GSOSize
	}
	if frag {
		n += FragmentSize
	}
	return n
}

// encodedSize returns the size of the IPv6 packet carrying frame f whole.
func encodedSize(f []byte, m *frame.Meta) int { return headerSize(m, false) + len(f) }

// PacketSize returns the largest IPv6 packet whose WireGuard message fits
// one UDP datagram on a path of MTU mtu (v6: an IPv6 underlay), rounded
// down to a multiple of 16 so that WireGuard adds no padding and the
// pieces of a frame are messages of one size (which the UDP socket then
// sends as one GSO batch). Never below MinPacketSize.
func PacketSize(mtu int, v6 bool) int {
	ip := ipv4UDPOverhead
	if v6 {
		ip = ipv6UDPOverhead
	}
	return max((mtu-ip-MessageOverhead)&^15, MinPacketSize)
}

// pieceData returns the frame bytes one piece carries in a packet of
// packetSize bytes.
func pieceData(packetSize int, m *frame.Meta) int { return packetSize - headerSize(m, true) }

// encode writes the IPv6 packet carrying frame f (with m.Src, m.Dst and
// m.GSO) from peer self to next hop via into dst and returns its length, or
// 0 if f is not 14..MaxFrameSize bytes or dst is too small. It does not
// allocate.
func encode(dst, f []byte, m *frame.Meta, self, via frame.PeerName) int {
	if len(f) < frame.EthernetHeaderSize || len(f) > MaxWholeFrame {
		return 0
	}
	return encodePiece(dst, f, m, self, via, fragment.Header{})
}

// encodePiece writes the IPv6 packet carrying data, the part pc of a frame
// (the whole frame if pc.Total is 0), into dst and returns its length, or
// 0 if dst is too small. The caller checks the piece's bounds.
func encodePiece(dst, data []byte, m *frame.Meta, self, via frame.PeerName, pc fragment.Header) int {
	frag := pc.Total != 0
	n := headerSize(m, frag) + len(data)
	if n > len(dst) {
		return 0
	}
	p := dst[:n]
	binary.BigEndian.PutUint32(p[0:], 6<<28) // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(p[4:], uint16(n-IPv6HeaderSize))
	p[6], p[7] = NextHeader, HopLimit
	copy(p[8:18], prefix[:])
	self.Put(p[18:24])
	copy(p[24:34], prefix[:])
	via.Put(p[34:40])
	h := p[IPv6HeaderSize:]
	h[0], h[1] = Version, 0
	m.Src.Put(h[2:8])
	m.Dst.Put(h[8:14])
	h = h[HeaderSize:]
	if !m.GSO.IsZero() {
		p[IPv6HeaderSize+1] = FlagGSO
		m.GSO.PutWire(h)
		h = h[GSOSize:]
	}
	if frag {
		p[IPv6HeaderSize+1] |= FlagFragment
		pc.Put(h)
		h = h[FragmentSize:]
	}
	copy(h, data)
	return n
}

// decoded is a parsed packet: a caller-owned result, so decode does not
// allocate. Frame is a view into the packet.
type decoded struct {
	Via, To frame.PeerName // IPv6 src (previous hop) and dst
	Meta    frame.Meta     // Src, Dst, GSO from the overlay header; Via set
	Frame   []byte         // the frame, or the piece's bytes if Frag
	// Frag: the packet carries bytes [Offset, Offset+len(Frame)) of frame
	// ID, Total bytes long.
	Frag          bool
	ID            uint32
	Offset, Total int
}

// decode parses an IPv6 packet written by encode (by any sender: traffic
// class, flow label and hop limit are ignored) into d. It returns an error
// wrapping transport.ErrMalformed for anything else: not IPv6, a payload
// length that disagrees with len(p), another next header, addresses outside
// the prefix, an unknown version or flag, a GSO flag with a zero
// descriptor, a frame shorter than an Ethernet header or longer than
// MaxWholeFrame, or a fragment whose piece is empty or outside a frame of
// 14..MaxFrameSize bytes.
func decode(p []byte, d *decoded) error {
	if len(p) < IPv6HeaderSize+HeaderSize {
		return fmt.Errorf("%w: %d-byte packet", transport.ErrMalformed, len(p))
	}
	if p[0]>>4 != 6 {
		return fmt.Errorf("%w: IP version %d", transport.ErrMalformed, p[0]>>4)
	}
	if int(binary.BigEndian.Uint16(p[4:])) != len(p)-IPv6HeaderSize {
		return fmt.Errorf("%w: payload length %d in a %d-byte packet", transport.ErrMalformed, binary.BigEndian.Uint16(p[4:]), len(p))
	}
	if p[6] != NextHeader {
		return fmt.Errorf("%w: next header %d", transport.ErrMalformed, p[6])
	}
	via, ok1 := peerFromAddr(p[8:24])
	to, ok2 := peerFromAddr(p[24:40])
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: address outside fd77:7773::/80", transport.ErrMalformed)
	}
	h := p[IPv6HeaderSize:]
	if h[0] != Version {
		return fmt.Errorf("%w: version %d", transport.ErrMalformed, h[0])
	}
	if h[1]&^(FlagGSO|FlagFragment) != 0 {
		return fmt.Errorf("%w: flags %#02x", transport.ErrMalformed, h[1])
	}
	*d = decoded{Via: via, To: to}
	d.Meta.Src = frame.PeerNameFrom(h[2:8])
	d.Meta.Dst = frame.PeerNameFrom(h[8:14])
	d.Meta.Via = via
	h = h[HeaderSize:]
	if p[IPv6HeaderSize+1]&FlagGSO != 0 {
		if len(h) < GSOSize {
			return fmt.Errorf("%w: truncated GSO descriptor", transport.ErrMalformed)
		}
		d.Meta.GSO = frame.GSOFromWire(h)
		if d.Meta.GSO.IsZero() {
			return fmt.Errorf("%w: GSO flag with a zero descriptor", transport.ErrMalformed)
		}
		h = h[GSOSize:]
	}
	if p[IPv6HeaderSize+1]&FlagFragment != 0 {
		if len(h) < FragmentSize {
			return fmt.Errorf("%w: truncated fragment descriptor", transport.ErrMalformed)
		}
		d.Frag = true
		fh := fragment.Get(h)
		d.ID = fh.ID
		h = h[FragmentSize:]
		if !fh.Check(len(h)) {
			return fmt.Errorf("%w: fragment [%d, +%d) of a %d-byte frame", transport.ErrMalformed, fh.Offset, len(h), fh.Total)
		}
		d.Offset, d.Total, d.Frame = int(fh.Offset), int(fh.Total), h
		return nil
	}
	if len(h) < frame.EthernetHeaderSize || len(h) > MaxWholeFrame {
		return fmt.Errorf("%w: %d-byte frame", transport.ErrMalformed, len(h))
	}
	d.Frame = h
	return nil
}
