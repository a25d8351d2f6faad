package frame

import (
	"encoding/binary"
	"errors"
)

// A GSOError says what is wrong with a GSO descriptor or the frame it
// describes. Every GSOError Is ErrBadGSO. It is a small value: returning
// one as an error does not allocate.
type GSOError uint8

// The reasons ParseSuper and CheckGSO refuse a frame.
const (
	_ GSOError = iota
	GSOBadFlags
	GSOBadType
	GSOZeroSize
	GSOHdrLen
	GSOCsumRange
	GSONoNeedsCsum
	GSOShortEthernet
	GSOBadVLAN
	GSOBadEtherType
	GSOBadIPv4
	GSOIPv4Length
	GSOIPv4Fragment
	GSOBadIPv6
	GSOIPv6Length
	GSOProtoMismatch
	GSOBadTCP
	GSOBadUDP
	GSOUDPLength
	GSOCsumMismatch
)

var gsoErrorText = [...]string{
	GSOBadFlags:      "unknown flags, or NEEDS_CSUM with DATA_VALID",
	GSOBadType:       "unsupported GSO type",
	GSOZeroSize:      "zero segment size",
	GSOHdrLen:        "header length past the frame",
	GSOCsumRange:     "checksum offsets outside the frame",
	GSONoNeedsCsum:   "super-frame without NEEDS_CSUM",
	GSOShortEthernet: "frame shorter than an Ethernet header",
	GSOBadVLAN:       "truncated or stacked 802.1Q tag",
	GSOBadEtherType:  "EtherType neither IPv4 nor IPv6",
	GSOBadIPv4:       "truncated or not an IPv4 header",
	GSOIPv4Length:    "IPv4 total length differs from the packet",
	GSOIPv4Fragment:  "IPv4 fragment",
	GSOBadIPv6:       "truncated or not an IPv6 header",
	GSOIPv6Length:    "IPv6 payload length differs from the packet",
	GSOProtoMismatch: "IP version or protocol does not match the GSO type",
	GSOBadTCP:        "truncated TCP header or bad data offset",
	GSOBadUDP:        "truncated UDP header",
	GSOUDPLength:     "UDP length differs from the datagram",
	GSOCsumMismatch:  "checksum offsets are not the L4 checksum field",
}

func (e GSOError) Error() string {
	if int(e) < len(gsoErrorText) && gsoErrorText[e] != "" {
		return "bad GSO descriptor: " + gsoErrorText[e]
	}
	return "bad GSO descriptor"
}

// Is reports whether target is ErrBadGSO.
func (e GSOError) Is(target error) bool { return target == ErrBadGSO }

// ErrBadGSO is what every GSOError Is: a malformed super-frame or offload
// descriptor.
var ErrBadGSO = errors.New("malformed GSO super-frame")

const (
	etherTypeVLAN = 0x8100
	vlanTagSize   = 4
	ipProtoTCP    = 6
	ipProtoUDP    = 17
	// TCPCsumOffset and UDPCsumOffset are the offsets of the checksum
	// field in a TCP and a UDP header.
	TCPCsumOffset = 16
	UDPCsumOffset = 6
)

// SuperFrame is the layout of a valid GSO super-frame (ParseSuper).
type SuperFrame struct {
	L3Off, L4Off, PayloadOff int  // where the IP header, the L4 header and the payload start
	IPv4, TCP                bool // else IPv6, UDP
	Proto                    byte // the IP protocol, 6 or 17
}

// ParseSuper checks the Ethernet super-frame f against its descriptor g
// and returns its layout; it allocates nothing, and its error is a
// GSOError.
//
// What is supported: Ethernet with at most one 802.1Q tag (TPID 0x8100;
// 802.1ad and stacked tags are refused), then IPv4 (options allowed, no
// fragments) or IPv6 (no extension headers, no jumbograms), then TCP
// (g.Type GSOTCPv4 or GSOTCPv6, optionally with GSOECN; options allowed)
// or UDP (g.Type GSOUDPL4, no GSOECN, IPv4 or IPv6). GSOUDP (UFO, IP
// fragmentation) is not supported.
//
// What is checked: g.Type is one of the above and matches the IP version
// and protocol; g.Size > 0; every header fits the frame; the IPv4 total
// length or IPv6 payload length equals the frame length exactly (no
// trailing bytes); the UDP length equals the UDP datagram length; with
// GSOFlagNeedsCsum (required for GSOUDPL4, as the kernel requires it)
// CsumStart is the L4 header offset and CsumOffset the L4 checksum field.
// g.HdrLen is a hint and not looked at: header lengths come from the IHL
// and the TCP data offset.
func ParseSuper(f []byte, g GSO) (SuperFrame, error) {
	var p SuperFrame
	typ := g.Type &^ GSOECN
	switch typ {
	case GSOTCPv4, GSOTCPv6:
		p.TCP, p.Proto = true, ipProtoTCP
	case GSOUDPL4:
		if g.Type&GSOECN != 0 {
			return p, GSOBadType
		}
		if g.Flags&GSOFlagNeedsCsum == 0 {
			return p, GSONoNeedsCsum
		}
		p.Proto = ipProtoUDP
	default:
		return p, GSOBadType
	}
	if g.Size == 0 {
		return p, GSOZeroSize
	}

	if len(f) < EthernetHeaderSize {
		return p, GSOShortEthernet
	}
	et := binary.BigEndian.Uint16(f[12:])
	p.L3Off = EthernetHeaderSize
	if et == etherTypeVLAN {
		if len(f) < EthernetHeaderSize+vlanTagSize {
			return p, GSOBadVLAN
		}
		et = binary.BigEndian.Uint16(f[16:])
		p.L3Off += vlanTagSize
	}
	ip := f[p.L3Off:]
	switch et {
	case EtherTypeIPv4:
		if typ == GSOTCPv6 {
			return p, GSOProtoMismatch
		}
		p.IPv4 = true
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return p, GSOBadIPv4
		}
		ihl := int(ip[0]&0xf) * 4
		if ihl < 20 || ihl > len(ip) {
			return p, GSOBadIPv4
		}
		if tot := int(binary.BigEndian.Uint16(ip[2:])); tot != len(ip) {
			return p, GSOIPv4Length
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return p, GSOIPv4Fragment
		}
		if ip[9] != p.Proto {
			return p, GSOProtoMismatch
		}
		p.L4Off = p.L3Off + ihl
	case EtherTypeIPv6:
		if typ == GSOTCPv4 {
			return p, GSOProtoMismatch
		}
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return p, GSOBadIPv6
		}
		if pl := int(binary.BigEndian.Uint16(ip[4:])); pl != len(ip)-40 {
			return p, GSOIPv6Length
		}
		if ip[6] != p.Proto { // extension headers are not supported
			return p, GSOProtoMismatch
		}
		p.L4Off = p.L3Off + 40
	case etherTypeVLAN:
		return p, GSOBadVLAN
	default:
		return p, GSOBadEtherType
	}

	l4 := f[p.L4Off:]
	csumOff := UDPCsumOffset
	if p.TCP {
		if len(l4) < 20 {
			return p, GSOBadTCP
		}
		doff := int(l4[12]>>4) * 4
		if doff < 20 || doff > len(l4) {
			return p, GSOBadTCP
		}
		p.PayloadOff = p.L4Off + doff
		csumOff = TCPCsumOffset
	} else {
		if len(l4) < 8 {
			return p, GSOBadUDP
		}
		if ul := int(binary.BigEndian.Uint16(l4[4:])); ul != len(l4) {
			return p, GSOUDPLength
		}
		p.PayloadOff = p.L4Off + 8
	}
	if g.Flags&GSOFlagNeedsCsum != 0 && (int(g.CsumStart) != p.L4Off || int(g.CsumOffset) != csumOff) {
		return p, GSOCsumMismatch
	}
	return p, nil
}

// CheckGSO checks the descriptor g a peer sent with frame f before it is
// handed to a TAP as a virtio_net_hdr, where the kernel's GSO and checksum
// code would act on it. It returns nil for a descriptor the kernel can
// take as it is, else a GSOError. It allocates nothing.
//
//   - The zero GSO (an ordinary frame) is always fine.
//   - Flags: only GSOFlagNeedsCsum or GSOFlagDataValid, not both.
//   - HdrLen <= len(f).
//   - With GSOFlagNeedsCsum: CsumStart >= EthernetHeaderSize and
//     CsumStart + CsumOffset + 2 <= len(f).
//   - A GSO type other than GSONone makes a super-frame, which must carry
//     GSOFlagNeedsCsum (a TAP reports every super-frame with a partial
//     checksum) and pass ParseSuper: the type matches the EtherType and the
//     L4 protocol (GSOTCPv4 only for TCP over IPv4, GSOTCPv6 for TCP over
//     IPv6, GSOUDPL4 for UDP), Size > 0, the headers fit and the checksum
//     offsets name the L4 checksum field.
//   - GSOECN alone (without a type) is refused, as the kernel does.
func CheckGSO(f []byte, g GSO) error {
	if g.IsZero() {
		return nil
	}
	if g.Flags&^(GSOFlagNeedsCsum|GSOFlagDataValid) != 0 ||
		g.Flags == GSOFlagNeedsCsum|GSOFlagDataValid {
		return GSOBadFlags
	}
	if int(g.HdrLen) > len(f) {
		return GSOHdrLen
	}
	needsCsum := g.Flags&GSOFlagNeedsCsum != 0
	if needsCsum && (int(g.CsumStart) < EthernetHeaderSize || int(g.CsumStart)+int(g.CsumOffset)+2 > len(f)) {
		return GSOCsumRange
	}
	if g.Type == GSONone {
		return nil
	}
	if !g.IsSuper() {
		return GSOBadType // GSOECN alone
	}
	if !needsCsum {
		return GSONoNeedsCsum
	}
	_, err := ParseSuper(f, g)
	return err
}
