// Package segment cuts GSO super-frames into ordinary frames in
// userspace, as the kernel's TSO and USO would: host/ uses it to write a
// super-frame to a TAP that cannot take it whole. It allocates nothing on
// success.
package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/weave-switch/weave-switch/frame"
)

// ErrBadGSO is wrapped by every error Cut returns for a malformed
// super-frame or offload description: headers truncated, length fields
// that disagree with the frame, a protocol that does not match GSO.Type,
// a zero segment size, inconsistent checksum offsets.
var ErrBadGSO = errors.New("malformed GSO super-frame")

const (
	etherTypeVLAN = 0x8100
	vlanTagSize   = 4
	ipProtoTCP    = 6
	ipProtoUDP    = 17
	tcpCsumOffset = 16
	udpCsumOffset = 6
	tcpFlagFIN    = 0x01
	tcpFlagPSH    = 0x08
	tcpFlagCWR    = 0x80
)

// Cut cuts the Ethernet super-frame super, described by g, into
// ordinary frames the way the kernel's TSO/USO would, writing segment i
// into out[i] for i < n. It is the userspace stand-in for a TAP without
// offloads.
//
// Buffers: super is read only and not retained. out and its buffers are
// the caller's; the room of out[i] is cap(out[i]) and, on success, Cut
// reslices out[i] to the length of segment i (same backing array). The
// buffers must not overlap super or each other. Cut never allocates on
// success; if out has fewer than n buffers, or one is smaller than headers
// plus its payload, it returns an error that Is io.ErrShortBuffer (out may
// then be partly written). Each buffer needs room for the headers plus
// g.Size bytes.
//
// What is supported: Ethernet with at most one 802.1Q tag (TPID 0x8100;
// 802.1ad and stacked tags are refused), then IPv4 (options allowed, no
// fragments) or IPv6 (no extension headers, no jumbograms), then TCP
// (g.Type GSOTCPv4 or GSOTCPv6, optionally with GSOECN; options allowed)
// or UDP (g.Type GSOUDPL4, no GSOECN, IPv4 or IPv6). GSOUDP (UFO, IP
// fragmentation) is not supported.
//
// What is validated (an error that Is ErrBadGSO otherwise): g.Type is one
// of the above and matches the IP version and protocol; g.Size > 0; every
// header fits the frame; the IPv4 total length or IPv6 payload length
// equals the frame length exactly (no trailing bytes); the UDP length
// equals the UDP datagram length; with GSOFlagNeedsCsum (required for
// GSOUDPL4, as the kernel requires it) CsumStart is the L4 header offset
// and CsumOffset the L4 checksum field. g.HdrLen is a hint and ignored:
// header lengths come from the IHL and the TCP data offset. The incoming
// L4 checksum is never trusted: every segment's checksum is computed from
// scratch.
//
// Per segment, as Linux does: headers copied; IPv4 total length set, the
// IP ID incremented by one per segment (wrapping) and the header checksum
// recomputed; IPv6 payload length set; TCP sequence number advanced by the
// payload offset, FIN and PSH cleared on all but the last segment, CWR
// cleared on all but the first; UDP length set; the full TCP or UDP
// checksum (pseudo-header, header, payload) written, a computed UDP
// checksum of 0 being sent as 0xffff. A super-frame whose payload fits in
// g.Size (even an empty one) yields one segment.
//
// Cut is safe for concurrent use with distinct out buffers.
func Cut(super []byte, g frame.GSO, out [][]byte) (n int, err error) {
	p, err := parseSuper(super, g)
	if err != nil {
		return 0, err
	}
	hdr := super[:p.payOff]
	payload := super[p.payOff:]
	size := int(g.Size)
	n = 1
	if len(payload) > size {
		n = (len(payload) + size - 1) / size
	}
	if n > len(out) {
		return 0, fmt.Errorf("frame: %d segments but %d buffers: %w", n, len(out), io.ErrShortBuffer)
	}
	// Check every buffer before writing any.
	for i := range n {
		l := min(size, len(payload)-i*size)
		if cap(out[i]) < len(hdr)+l {
			return 0, fmt.Errorf("frame: segment %d needs %d bytes, buffer has %d: %w", i, len(hdr)+l, cap(out[i]), io.ErrShortBuffer)
		}
	}

	var (
		ipID     uint16
		seq      uint32
		tcpFlags byte
		addrSum  uint16 // folded sum of the pseudo-header addresses
	)
	if p.v4 {
		ipID = binary.BigEndian.Uint16(super[p.l3Off+4:])
		addrSum = frame.Checksum(super[p.l3Off+12:p.l3Off+20], 0)
	} else {
		addrSum = frame.Checksum(super[p.l3Off+8:p.l3Off+40], 0)
	}
	if p.tcp {
		seq = binary.BigEndian.Uint32(super[p.l4Off+4:])
		tcpFlags = super[p.l4Off+13]
	}
	l4HdrLen := p.payOff - p.l4Off
	for i := range n {
		off := i * size
		l := min(size, len(payload)-off)
		seg := out[i][:len(hdr)+l]
		copy(seg, hdr)
		copy(seg[len(hdr):], payload[off:off+l])
		l4Len := l4HdrLen + l

		ip := seg[p.l3Off:]
		if p.v4 {
			binary.BigEndian.PutUint16(ip[2:], uint16(p.l4Off-p.l3Off+l4Len))
			binary.BigEndian.PutUint16(ip[4:], ipID+uint16(i))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], ^frame.Checksum(ip[:p.l4Off-p.l3Off], 0))
		} else {
			binary.BigEndian.PutUint16(ip[4:], uint16(l4Len))
		}

		l4 := seg[p.l4Off:]
		var csumAt int
		if p.tcp {
			binary.BigEndian.PutUint32(l4[4:], seq+uint32(off))
			f := tcpFlags
			if i != n-1 {
				f &^= tcpFlagFIN | tcpFlagPSH
			}
			if i != 0 {
				f &^= tcpFlagCWR
			}
			l4[13] = f
			csumAt = tcpCsumOffset
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(l4Len))
			csumAt = udpCsumOffset
		}
		l4[csumAt], l4[csumAt+1] = 0, 0
		sum := pseudoSum(addrSum, p.proto, l4Len)
		sum = frame.Checksum(l4[:l4HdrLen], sum)
		sum = frame.Checksum(payload[off:off+l], sum) // l4HdrLen is even: no odd-byte shift
		csum := ^sum
		if !p.tcp && csum == 0 {
			csum = 0xffff // RFC 768: 0 means "no checksum"
		}
		binary.BigEndian.PutUint16(l4[csumAt:], csum)
		out[i] = seg
	}
	return n, nil
}

// pseudoSum adds the protocol and L4 length of the pseudo-header to the
// folded address sum. The sum is the same for the IPv4 and the IPv6
// pseudo-header (the IPv6 one has a 32-bit length and zero padding).
func pseudoSum(addrSum uint16, proto byte, l4Len int) uint16 {
	s := uint32(addrSum) + uint32(proto) + uint32(l4Len>>16) + uint32(l4Len&0xffff)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// superFrame is the parsed layout of a valid super-frame.
type superFrame struct {
	l3Off, l4Off, payOff int
	v4, tcp              bool
	proto                byte
}

func badGSO(format string, args ...any) error {
	return fmt.Errorf("segment: %s: %w", fmt.Sprintf(format, args...), ErrBadGSO)
}

// parseSuper validates super against g (see Cut) and returns its layout.
func parseSuper(super []byte, g frame.GSO) (superFrame, error) {
	var p superFrame
	typ := g.Type &^ frame.GSOECN
	switch typ {
	case frame.GSOTCPv4, frame.GSOTCPv6:
		p.tcp, p.proto = true, ipProtoTCP
	case frame.GSOUDPL4:
		if g.Type&frame.GSOECN != 0 {
			return p, badGSO("ECN bit with GSO type UDP_L4")
		}
		if g.Flags&frame.GSOFlagNeedsCsum == 0 {
			return p, badGSO("GSO type UDP_L4 without NEEDS_CSUM")
		}
		p.proto = ipProtoUDP
	default:
		return p, badGSO("unsupported GSO type %#x", g.Type)
	}
	if g.Size == 0 {
		return p, badGSO("zero segment size")
	}

	if len(super) < frame.EthernetHeaderSize {
		return p, badGSO("frame of %d bytes shorter than an Ethernet header", len(super))
	}
	et := binary.BigEndian.Uint16(super[12:])
	p.l3Off = frame.EthernetHeaderSize
	if et == etherTypeVLAN {
		if len(super) < frame.EthernetHeaderSize+vlanTagSize {
			return p, badGSO("truncated 802.1Q tag")
		}
		et = binary.BigEndian.Uint16(super[16:])
		p.l3Off += vlanTagSize
	}
	ip := super[p.l3Off:]
	switch et {
	case frame.EtherTypeIPv4:
		if typ == frame.GSOTCPv6 {
			return p, badGSO("IPv4 packet with GSO type TCPv6")
		}
		p.v4 = true
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return p, badGSO("truncated or not an IPv4 header")
		}
		ihl := int(ip[0]&0xf) * 4
		if ihl < 20 || ihl > len(ip) {
			return p, badGSO("IPv4 header length %d, %d bytes left", ihl, len(ip))
		}
		if tot := int(binary.BigEndian.Uint16(ip[2:])); tot != len(ip) {
			return p, badGSO("IPv4 total length %d, packet is %d bytes", tot, len(ip))
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return p, badGSO("IPv4 fragment")
		}
		if ip[9] != p.proto {
			return p, badGSO("IPv4 protocol %d with GSO type %#x", ip[9], g.Type)
		}
		p.l4Off = p.l3Off + ihl
	case frame.EtherTypeIPv6:
		if typ == frame.GSOTCPv4 {
			return p, badGSO("IPv6 packet with GSO type TCPv4")
		}
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return p, badGSO("truncated or not an IPv6 header")
		}
		if pl := int(binary.BigEndian.Uint16(ip[4:])); pl != len(ip)-40 {
			return p, badGSO("IPv6 payload length %d, packet has %d bytes after the header", pl, len(ip)-40)
		}
		if ip[6] != p.proto {
			return p, badGSO("IPv6 next header %d with GSO type %#x (extension headers are not supported)", ip[6], g.Type)
		}
		p.l4Off = p.l3Off + 40
	default:
		return p, badGSO("EtherType %#04x is neither IPv4 nor IPv6", et)
	}

	l4 := super[p.l4Off:]
	csumOff := udpCsumOffset
	if p.tcp {
		if len(l4) < 20 {
			return p, badGSO("truncated TCP header")
		}
		doff := int(l4[12]>>4) * 4
		if doff < 20 || doff > len(l4) {
			return p, badGSO("TCP data offset %d, %d bytes left", doff, len(l4))
		}
		p.payOff = p.l4Off + doff
		csumOff = tcpCsumOffset
	} else {
		if len(l4) < 8 {
			return p, badGSO("truncated UDP header")
		}
		if ul := int(binary.BigEndian.Uint16(l4[4:])); ul != len(l4) {
			return p, badGSO("UDP length %d, datagram is %d bytes", ul, len(l4))
		}
		p.payOff = p.l4Off + 8
	}
	if g.Flags&frame.GSOFlagNeedsCsum != 0 && (int(g.CsumStart) != p.l4Off || int(g.CsumOffset) != csumOff) {
		return p, badGSO("checksum at %d+%d, L4 header at %d with checksum field at +%d", g.CsumStart, g.CsumOffset, p.l4Off, csumOff)
	}
	return p, nil
}
