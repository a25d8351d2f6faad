package udpbatch

import (
	"errors"
	"net"
	"syscall"
	"unsafe"
)

// UDP socket options of linux/udp.h (not in package syscall).
const (
	solUDP     = 17  // SOL_UDP
	udpSegment = 103 // UDP_SEGMENT: GSO segment size, socket option or cmsg (uint16)
	udpGRO     = 104 // UDP_GRO: enable GRO; cmsg (int) with the segment size on receive
)

// Control message sizes: a UDP_SEGMENT cmsg (uint16) on send; room for a
// UDP_GRO cmsg (int) and one more on receive.
var (
	SegmentCmsgSpace = syscall.CmsgSpace(2)
	RecvCmsgSpace    = 2 * syscall.CmsgSpace(4)
)

// SetupOffloads probes UDP GSO (getsockopt UDP_SEGMENT succeeds on kernels
// that have it, 4.18 and later) and enables UDP GRO (setsockopt UDP_GRO,
// 5.0 and later) on conn, as asked. Failures just report false.
func SetupOffloads(conn *net.UDPConn, wantGSO, wantGRO bool) (gso, gro bool) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false, false
	}
	_ = rc.Control(func(fd uintptr) {
		if wantGSO {
			_, err := syscall.GetsockoptInt(int(fd), solUDP, udpSegment)
			gso = err == nil
		}
		if wantGRO {
			gro = syscall.SetsockoptInt(int(fd), solUDP, udpGRO, 1) == nil
		}
	})
	return gso, gro
}

// PutSegmentCmsg writes a UDP_SEGMENT control message for segments of size
// bytes into b[:SegmentCmsgSpace], which must be 8-byte aligned.
func PutSegmentCmsg(b []byte, size int) {
	_ = b[SegmentCmsgSpace-1]
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = solUDP, udpSegment
	h.SetLen(syscall.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[syscall.CmsgLen(0)])) = uint16(size)
}

// GROSize returns the segment size of a UDP_GRO control message in oob,
// or 0 if there is none.
func GROSize(oob []byte) int {
	for len(oob) >= syscall.SizeofCmsghdr {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < syscall.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == solUDP && h.Type == udpGRO && l >= syscall.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[syscall.CmsgLen(0)])))
		}
		next := syscall.CmsgSpace(l - syscall.CmsgLen(0))
		if next > len(oob) {
			return 0
		}
		oob = oob[next:]
	}
	return 0
}

// AlignedBytes returns n zero bytes, 8-byte aligned (for control messages).
func AlignedBytes(n int) []byte {
	if n == 0 {
		return nil
	}
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), n)
}

// GSOError classifies a failed send of a UDP_SEGMENT message: errors that
// mean the path cannot do UDP GSO (EIO: no checksum offload or xfrm on the
// egress device; EINVAL, ENOPROTOOPT, EOPNOTSUPP: unsupported), after
// which GSO is turned off if a plain send then works; and EMSGSIZE, a
// segment bigger than the path MTU, after which only this send goes one
// datagram at a time (IP may then fragment: UnderlayMTU is too big).
func GSOError(err error) (disable, retry bool) {
	switch {
	case errors.Is(err, syscall.EIO), errors.Is(err, syscall.EINVAL),
		errors.Is(err, syscall.ENOPROTOOPT), errors.Is(err, syscall.EOPNOTSUPP):
		return true, true
	case errors.Is(err, syscall.EMSGSIZE):
		return false, true
	}
	return false, false
}
