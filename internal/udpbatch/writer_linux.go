//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || s390x || loong64)

package udpbatch

import (
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Limits of one UDP GSO message: the kernel's 64 segments, and a UDP
// payload that fits one IP packet.
const (
	maxSegments   = 64
	maxGSOPayload = 65507
)

// Writer sends datagrams with sendmmsg(2) through the runtime poller. Runs
// of equal-size datagrams to one destination (the last of a run may be
// shorter) go as one UDP GSO message whose iovecs point at the caller's
// buffers: nothing is copied. Everything is allocated once, in NewWriter;
// a Writer is used by one goroutine at a time (keep one per sender, or a
// sync.Pool of them). If the path cannot do GSO, the first failure turns
// it off for every Writer sharing gso, and the batch goes again one
// datagram per message.
type Writer struct {
	rc   syscall.RawConn
	v6   bool // the socket is AF_INET6 (IPv4 destinations go v4-mapped)
	gso  *atomic.Bool
	hdrs []mmsghdr
	iovs []syscall.Iovec
	oob  []byte
	name syscall.RawSockaddrInet6

	// The batch being written, and the results of the last sendmmsg.
	nmsg, done int
	errno      syscall.Errno
	fn         func(fd uintptr) bool
}

// NewWriter returns a Writer for conn of up to n datagrams per Write;
// gso (shared by the Writers of one socket) says whether to try UDP GSO.
func NewWriter(conn *net.UDPConn, n int, gso *atomic.Bool) (*Writer, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	la, _ := conn.LocalAddr().(*net.UDPAddr)
	w := &Writer{
		rc:   rc,
		v6:   la != nil && la.IP.To4() == nil,
		gso:  gso,
		hdrs: make([]mmsghdr, n),
		iovs: make([]syscall.Iovec, n),
		oob:  AlignedBytes(n * SegmentCmsgSpace),
	}
	w.fn = w.sendmmsg
	return w, nil
}

// Write sends bufs (at most n, each at most maxGSOPayload bytes) to dst.
func (w *Writer) Write(bufs [][]byte, dst netip.AddrPort) error {
	if len(bufs) == 0 {
		return nil
	}
	bufs = bufs[:min(len(bufs), len(w.iovs))]
	if !w.setName(dst) {
		return &net.AddrError{Err: "address family not supported by the socket", Addr: dst.String()}
	}
	gso := w.gso.Load()
	err := w.send(bufs, gso)
	if err != nil && gso {
		if disable, retry := GSOError(err); retry {
			if disable {
				w.gso.Store(false)
			}
			err = w.send(bufs[w.sent(bufs):], false)
		}
	}
	return err
}

// sent returns how many of bufs the messages before the failed one held.
func (w *Writer) sent(bufs [][]byte) int {
	n := 0
	for i := range w.done {
		n += int(w.hdrs[i].hdr.Iovlen)
	}
	return min(n, len(bufs))
}

func (w *Writer) send(bufs [][]byte, gso bool) error {
	w.nmsg, w.done = 0, 0
	for i := 0; i < len(bufs); {
		seg, total, j := len(bufs[i]), len(bufs[i]), i+1
		for gso && j < len(bufs) && j-i < maxSegments {
			l := len(bufs[j])
			if l > seg || total+l > maxGSOPayload {
				break
			}
			total += l
			j++
			if l < seg {
				break // a shorter datagram ends the run
			}
		}
		for k := i; k < j; k++ {
			w.iovs[k].Base = &bufs[k][0]
			w.iovs[k].SetLen(len(bufs[k]))
		}
		h := &w.hdrs[w.nmsg]
		h.len = 0
		h.hdr.Name = (*byte)(unsafe.Pointer(&w.name))
		h.hdr.Namelen = syscall.SizeofSockaddrInet4
		if w.v6 {
			h.hdr.Namelen = syscall.SizeofSockaddrInet6
		}
		h.hdr.Iov = &w.iovs[i]
		h.hdr.Iovlen = uint64(j - i) // 64-bit Linux (build tag)
		h.hdr.Control, h.hdr.Controllen = nil, 0
		if j-i > 1 {
			c := w.oob[w.nmsg*SegmentCmsgSpace : (w.nmsg+1)*SegmentCmsgSpace]
			PutSegmentCmsg(c, seg)
			h.hdr.Control = &c[0]
			h.hdr.SetControllen(SegmentCmsgSpace)
		}
		w.nmsg++
		i = j
	}
	for w.done < w.nmsg {
		w.errno = 0
		if err := w.rc.Write(w.fn); err != nil {
			return err
		}
		if w.errno != 0 {
			return os.NewSyscallError("sendmmsg", w.errno)
		}
	}
	return nil
}

// sendmmsg runs on the socket's fd; it returns false to wait for
// writability.
func (w *Writer) sendmmsg(fd uintptr) bool {
	for w.done < w.nmsg {
		n, _, errno := syscall.Syscall6(sysSendmmsg, fd,
			uintptr(unsafe.Pointer(&w.hdrs[w.done])), uintptr(w.nmsg-w.done), 0, 0, 0)
		switch errno {
		case 0:
			w.done += int(n)
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			w.errno = errno
			return true
		}
	}
	return true
}

// setName writes dst as the socket's sockaddr; false if an IPv6
// destination meets an IPv4 socket.
func (w *Writer) setName(dst netip.AddrPort) bool {
	a := dst.Addr()
	if !w.v6 {
		if !a.Unmap().Is4() {
			return false
		}
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&w.name))
		sa.Family = syscall.AF_INET
		sa.Port = htons(dst.Port())
		sa.Addr = a.Unmap().As4()
		return true
	}
	w.name = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(dst.Port()), Addr: a.As16()}
	return true
}

// htons converts a port to network byte order, as a sockaddr stores it.
func htons(p uint16) uint16 { return ntohs(p) }
