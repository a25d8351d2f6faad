package wireguard

import (
	"encoding/binary"
	"fmt"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Sizes and constants of the encapsulation (see the package doc).
const (
	// IPv6HeaderSize is the fixed IPv6 header in front of every frame.
	IPv6HeaderSize = 40
	// HeaderSize is the overlay header after the IPv6 header:
	// version(1) flags(1) src PeerName(6) dst PeerName(6).
	HeaderSize = 2 + 2*frame.PeerNameSize
	// GSOSize is the GSO descriptor that follows the header if FlagGSO.
	GSOSize = 10
	// Version is the overlay header version.
	Version = 1
	// FlagGSO marks a header followed by a GSO descriptor (Meta.GSO non-zero).
	FlagGSO = 0x01
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
	// MaxFrameSize is the largest frame (Ethernet header included) the
	// transport carries: TunMTU less the IPv6 and overlay headers and the
	// GSO descriptor. Larger frames (a full 64 KiB GSO super-frame is up
	// to frame.MaxSuperFrameSize) are dropped and counted.
	MaxFrameSize = TunMTU - IPv6HeaderSize - HeaderSize - GSOSize
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

// encodedSize returns the size of the IPv6 packet carrying frame f with m.
func encodedSize(f []byte, m *frame.Meta) int {
	n := IPv6HeaderSize + HeaderSize + len(f)
	if !m.GSO.IsZero() {
		n += GSOSize
	}
	return n
}

// encode writes the IPv6 packet carrying frame f (with m.Src, m.Dst and
// m.GSO) from peer self to next hop via into dst and returns its length, or
// 0 if f is not 14..MaxFrameSize bytes or dst is too small. It does not
// allocate.
func encode(dst, f []byte, m *frame.Meta, self, via frame.PeerName) int {
	n := encodedSize(f, m)
	if len(f) < frame.EthernetHeaderSize || len(f) > MaxFrameSize || n > len(dst) {
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
		g := m.GSO
		h[0], h[1] = g.Flags, g.Type
		binary.BigEndian.PutUint16(h[2:], g.HdrLen)
		binary.BigEndian.PutUint16(h[4:], g.Size)
		binary.BigEndian.PutUint16(h[6:], g.CsumStart)
		binary.BigEndian.PutUint16(h[8:], g.CsumOffset)
		h = h[GSOSize:]
	}
	copy(h, f)
	return n
}

// decoded is a parsed packet: a caller-owned result, so decode does not
// allocate. Frame is a view into the packet.
type decoded struct {
	Via, To frame.PeerName // IPv6 src (previous hop) and dst
	Meta    frame.Meta     // Src, Dst, GSO from the overlay header; Via set
	Frame   []byte
}

// decode parses an IPv6 packet written by encode (by any sender: traffic
// class, flow label and hop limit are ignored) into d. It returns an error
// wrapping transport.ErrMalformed for anything else: not IPv6, a payload
// length that disagrees with len(p), another next header, addresses outside
// the prefix, an unknown version or flag, a GSO flag with a zero
// descriptor, or a frame shorter than an Ethernet header or longer than
// MaxFrameSize.
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
	if h[1]&^FlagGSO != 0 {
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
		d.Meta.GSO = frame.GSO{
			Flags:      h[0],
			Type:       h[1],
			HdrLen:     binary.BigEndian.Uint16(h[2:]),
			Size:       binary.BigEndian.Uint16(h[4:]),
			CsumStart:  binary.BigEndian.Uint16(h[6:]),
			CsumOffset: binary.BigEndian.Uint16(h[8:]),
		}
		if d.Meta.GSO.IsZero() {
			return fmt.Errorf("%w: GSO flag with a zero descriptor", transport.ErrMalformed)
		}
		h = h[GSOSize:]
	}
	if len(h) < frame.EthernetHeaderSize || len(h) > MaxFrameSize {
		return fmt.Errorf("%w: %d-byte frame", transport.ErrMalformed, len(h))
	}
	d.Frame = h
	return nil
}
