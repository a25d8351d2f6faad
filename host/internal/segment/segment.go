// Package segment cuts GSO super-frames into ordinary frames in
// userspace, as the kernel's TSO and USO would: host/ uses it to write a
// super-frame to a TAP that cannot take it whole. It allocates nothing on
// success.
package segment

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/weave-switch/weave-switch/frame"
)

// ErrBadGSO is what every error Cut returns for a malformed super-frame
// or offload description Is: frame.ErrBadGSO (see frame.ParseSuper).
var ErrBadGSO = frame.ErrBadGSO

const (
	tcpFlagFIN = 0x01
	tcpFlagPSH = 0x08
	tcpFlagCWR = 0x80
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
// What is supported and validated is frame.ParseSuper's: a malformed
// super-frame or descriptor gives its frame.GSOError, which Is ErrBadGSO.
// The incoming L4 checksum is never trusted: every segment's checksum is
// computed from scratch.
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
	p, err := frame.ParseSuper(super, g)
	if err != nil {
		return 0, err
	}
	hdr := super[:p.PayloadOff]
	payload := super[p.PayloadOff:]
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
	if p.IPv4 {
		ipID = binary.BigEndian.Uint16(super[p.L3Off+4:])
		addrSum = frame.Checksum(super[p.L3Off+12:p.L3Off+20], 0)
	} else {
		addrSum = frame.Checksum(super[p.L3Off+8:p.L3Off+40], 0)
	}
	if p.TCP {
		seq = binary.BigEndian.Uint32(super[p.L4Off+4:])
		tcpFlags = super[p.L4Off+13]
	}
	l4HdrLen := p.PayloadOff - p.L4Off
	for i := range n {
		off := i * size
		l := min(size, len(payload)-off)
		seg := out[i][:len(hdr)+l]
		copy(seg, hdr)
		copy(seg[len(hdr):], payload[off:off+l])
		l4Len := l4HdrLen + l

		ip := seg[p.L3Off:]
		if p.IPv4 {
			binary.BigEndian.PutUint16(ip[2:], uint16(p.L4Off-p.L3Off+l4Len))
			binary.BigEndian.PutUint16(ip[4:], ipID+uint16(i))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], ^frame.Checksum(ip[:p.L4Off-p.L3Off], 0))
		} else {
			binary.BigEndian.PutUint16(ip[4:], uint16(l4Len))
		}

		l4 := seg[p.L4Off:]
		var csumAt int
		if p.TCP {
			binary.BigEndian.PutUint32(l4[4:], seq+uint32(off))
			f := tcpFlags
			if i != n-1 {
				f &^= tcpFlagFIN | tcpFlagPSH
			}
			if i != 0 {
				f &^= tcpFlagCWR
			}
			l4[13] = f
			csumAt = frame.TCPCsumOffset
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(l4Len))
			csumAt = frame.UDPCsumOffset
		}
		l4[csumAt], l4[csumAt+1] = 0, 0
		sum := pseudoSum(addrSum, p.Proto, l4Len)
		sum = frame.Checksum(l4[:l4HdrLen], sum)
		sum = frame.Checksum(payload[off:off+l], sum) // l4HdrLen is even: no odd-byte shift
		csum := ^sum
		if !p.TCP && csum == 0 {
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
