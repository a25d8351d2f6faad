package udpbatch

import (
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Limits of one UDP GSO message: the kernel's UDP_MAX_SEGMENTS (64 before
// Linux 6.9, 128 after), and a UDP payload that fits one IP packet (a
// 64 KiB IPv4 packet less its IP and UDP headers; IPv6's payload length
// does not count its own header).
const (
	maxSegments     = 64
	maxGSOBytesIPv4 = 1<<16 - 1 - 20 - 8
	maxGSOBytesIPv6 = 1<<16 - 1 - 8
)

// Writer sends datagrams with sendmmsg(2) through the runtime poller. With
// UDP GSO, each message takes a run of equal-size datagrams to one
// destination (the segment size) and at most one shorter datagram, sent
// last, up to 64 segments and 64 KiB, with a UDP_SEGMENT control message
// if it has more than one. Its iovecs point at the caller's buffers
// (nothing is copied), and datagrams adjacent in memory share an iovec.
//
// A datagram marked inert (a fragment that completes nothing at the
// receiver) may go ahead of a shorter datagram in front of it: the shorter
// one (typically the tail of a fragmented frame) then rides at the end of
// the next message, after the next frame's inert fragments, so frames
// still complete in order and a stream of 64 KiB super-frames split at
// the MTU takes about one message each instead of two. A message always
// covers a contiguous range of the datagrams, so the datagrams sent
// before an error are a prefix of them.
//
// If the kernel refuses a GSO message (see GSOError), its datagrams and
// the rest go again one per message; GSO is turned off for every Writer
// sharing the flag once such a plain send works, if the error said the
// path cannot do GSO. Everything is allocated once, in NewWriter; a Writer
// is used by one goroutine at a time (keep one per sender, or a sync.Pool
// of them).
type Writer struct {
	rc   syscall.RawConn
	v6   bool // the socket is AF_INET6 (IPv4 destinations go v4-mapped)
	gso  *atomic.Bool
	hdrs []mmsghdr
	iovs []syscall.Iovec
	oob  []byte // SegmentCmsgSpace per message
	// first and count give the datagrams message i covers.
	first, count []int

	// The destination of the batch being written.
	name     syscall.RawSockaddrInet6
	namelen  uint32
	maxBytes int    // of one GSO message
	zone     string // the last named zone and its index
	zoneID   uint32

	span  []byte // the bytes of the last iovec, while building
	dirty int    // iovecs that may point at the caller's buffers

	// The messages built, and the results of the last sendmmsg.
	nmsg, done int
	errno      syscall.Errno
	fn         func(fd uintptr) bool
	fault      *Fault
}

// Sent is what a WriteBatch did.
type Sent struct {
	// Datagrams is how many of the datagrams went out: a prefix of them,
	// all of them if WriteBatch returned no error.
	Datagrams int
	// GSOMessages is how many of the messages sent were UDP GSO messages
	// of more than one datagram.
	GSOMessages int
	// GSOErr is the kernel's refusal of a GSO message that the rest of the
	// batch fell back on, sending one datagram per message; nil if none.
	GSOErr error
	// GSOOff says that this call turned GSO off for the socket: GSOErr
	// said the path cannot do it and a plain send then worked.
	GSOOff bool
}

// Fault makes a Writer's sendmmsg fail as the kernel does, for tests of
// how callers fall back: each call sends the plain messages in front of
// the first GSO message and fails with Errno at it; with Plain, every call
// fails.
type Fault struct {
	Errno syscall.Errno
	Plain bool
	Calls int // sendmmsg calls made
}

// NewWriter returns a Writer for conn of up to n datagrams per sendmmsg;
// gso (shared by the Writers of one socket) says whether to try UDP GSO.
func NewWriter(conn *net.UDPConn, n int, gso *atomic.Bool) (*Writer, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	la, _ := conn.LocalAddr().(*net.UDPAddr)
	w := newWriter(n, gso)
	w.rc, w.v6 = rc, la != nil && la.IP.To4() == nil
	return w, nil
}

func newWriter(n int, gso *atomic.Bool) *Writer {
	n = max(n, 1)
	w := &Writer{
		gso:   gso,
		hdrs:  make([]mmsghdr, n),
		iovs:  make([]syscall.Iovec, n),
		oob:   AlignedBytes(n * SegmentCmsgSpace),
		first: make([]int, n),
		count: make([]int, n),
	}
	w.fn = w.sendmmsg
	return w
}

// SetFault makes w's sends fail as f says (nil: as the kernel does).
func (w *Writer) SetFault(f *Fault) { w.fault = f }

// Write sends bufs (each at most 64 KiB less the IP and UDP headers) to
// dst; it is WriteBatch without inert datagrams or the report.
func (w *Writer) Write(bufs [][]byte, dst netip.AddrPort) error {
	_, err := w.WriteBatch(bufs, nil, dst)
	return err
}

// WriteBatch sends bufs to dst, with one sendmmsg per up to n datagrams,
// and reports what went out. inert is nil or has one flag per datagram:
// true for a datagram that may go ahead of a shorter one in front of it.
func (w *Writer) WriteBatch(bufs [][]byte, inert []bool, dst netip.AddrPort) (Sent, error) {
	var s Sent
	if len(bufs) == 0 {
		return s, nil
	}
	if !w.setName(dst) {
		return s, &net.AddrError{Err: "address family not supported by the socket", Addr: dst.String()}
	}
	var err error
	for len(bufs) > 0 && err == nil {
		k := min(len(bufs), len(w.hdrs))
		var in []bool
		if inert != nil {
			in, inert = inert[:k], inert[k:]
		}
		err = w.write(bufs[:k], in, &s)
		bufs = bufs[k:]
	}
	// Drop references to the caller's buffers.
	clear(w.iovs[:w.dirty])
	w.dirty, w.span = 0, nil
	return s, err
}

// write sends bufs (at most n) and adds to s what went out.
func (w *Writer) write(bufs [][]byte, inert []bool, s *Sent) error {
	w.build(bufs, inert, w.gso.Load())
	disable := false // turn GSO off once a plain send works
	for {
		err := w.send()
		sent := len(bufs)
		if w.done < w.nmsg {
			sent = w.first[w.done]
		}
		s.Datagrams += sent
		for m := range w.done {
			if w.count[m] > 1 {
				s.GSOMessages++
			}
		}
		if disable && w.done > 0 {
			disable = false
			s.GSOOff = w.gso.CompareAndSwap(true, false)
		}
		if err == nil {
			return nil
		}
		if w.done >= w.nmsg || w.count[w.done] == 1 {
			return err
		}
		dis, retry := GSOError(err)
		if !retry {
			return err
		}
		s.GSOErr, disable = err, dis
		bufs = bufs[sent:]
		w.build(bufs, nil, false)
	}
}

// build fills the message vector with bufs (at most n) and sets w.nmsg.
// Without gso a message is one datagram; with it, see Writer.
func (w *Writer) build(bufs [][]byte, inert []bool, gso bool) {
	nm, niov := 0, 0
	for i := 0; i < len(bufs); {
		start, lo := i, niov
		deferred := -1
		if gso && i+1 < len(bufs) && len(bufs[i+1]) > len(bufs[i]) && passable(bufs, inert, i+1, len(bufs[i+1])) {
			deferred = i
			i++
		}
		seg := len(bufs[i])
		niov = w.addIOV(lo, niov, bufs[i])
		total, cnt, j := seg, 1, i+1
		if deferred >= 0 {
			total, cnt = total+len(bufs[deferred]), cnt+1
		}
		for gso && j < len(bufs) && cnt < maxSegments {
			l := len(bufs[j])
			if l > seg || total+l > w.maxBytes || (deferred >= 0 && !passable(bufs, inert, j, seg)) {
				break
			}
			total, cnt = total+l, cnt+1
			if l < seg {
				if cnt < maxSegments && passable(bufs, inert, j+1, seg) {
					deferred = j
					j++
					continue
				}
				niov = w.addIOV(lo, niov, bufs[j])
				j++
				break
			}
			niov = w.addIOV(lo, niov, bufs[j])
			j++
		}
		if deferred >= 0 {
			niov = w.addIOV(lo, niov, bufs[deferred])
		}
		h := &w.hdrs[nm]
		h.len = 0
		h.hdr.Name = (*byte)(unsafe.Pointer(&w.name))
		h.hdr.Namelen = w.namelen
		h.hdr.Iov = &w.iovs[lo]
		setLen(&h.hdr.Iovlen, niov-lo)
		h.hdr.Control, h.hdr.Controllen = nil, 0
		if cnt > 1 {
			c := w.oob[nm*SegmentCmsgSpace : (nm+1)*SegmentCmsgSpace]
			PutSegmentCmsg(c, seg)
			h.hdr.Control = &c[0]
			h.hdr.SetControllen(SegmentCmsgSpace)
		}
		w.first[nm], w.count[nm] = start, j-start
		nm++
		i = j
	}
	w.nmsg, w.done = nm, 0
	w.dirty = max(w.dirty, niov)
}

// passable reports whether datagram j is inert and seg bytes long: it may
// go ahead of a deferred shorter datagram in a message of segment size seg.
func passable(bufs [][]byte, inert []bool, j, seg int) bool {
	return j < len(inert) && inert[j] && len(bufs[j]) == seg
}

// addIOV appends b to the iovecs (niov so far, those of the current
// message from lo), extending the message's last iovec if it ends where b
// starts in the same buffer, and returns the new number of iovecs.
func (w *Writer) addIOV(lo, niov int, b []byte) int {
	if p := w.span; niov > lo && cap(p)-len(p) >= len(b) && len(b) > 0 && &p[:len(p)+1][len(p)] == &b[0] {
		w.span = p[:len(p)+len(b)]
		w.iovs[niov-1].SetLen(len(w.span))
		return niov
	}
	w.span = b
	w.iovs[niov].Base = unsafe.SliceData(b)
	w.iovs[niov].SetLen(len(b))
	return niov + 1
}

// setLen stores n in a Msghdr field whose width depends on the platform.
func setLen[T uint32 | uint64](p *T, n int) { *p = T(n) }

// send sends messages [w.done, w.nmsg), looping on partial writes, and
// stops at the first error.
func (w *Writer) send() error {
	for w.done < w.nmsg {
		w.errno = 0
		before := w.done
		if err := w.rc.Write(w.fn); err != nil {
			return err
		}
		if w.errno != 0 {
			return os.NewSyscallError("sendmmsg", w.errno)
		}
		if w.done == before {
			return io.ErrShortWrite
		}
	}
	return nil
}

// sendmmsg runs on the socket's fd; it returns false to wait for
// writability.
func (w *Writer) sendmmsg(fd uintptr) bool {
	for w.done < w.nmsg {
		vlen := w.nmsg - w.done
		if f := w.fault; f != nil {
			f.Calls++
			k := 0
			for !f.Plain && k < vlen && w.hdrs[w.done+k].hdr.Control == nil {
				k++
			}
			if k == 0 {
				w.errno = f.Errno
				return true
			}
			vlen = k
		}
		n, _, errno := syscall.Syscall6(unix.SYS_SENDMMSG, fd,
			uintptr(unsafe.Pointer(&w.hdrs[w.done])), uintptr(vlen), 0, 0, 0)
		switch errno {
		case 0:
			if n == 0 {
				return true
			}
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

// setName writes dst as the socket's sockaddr, with the GSO size limit
// for its family; false if an IPv6 destination meets an IPv4 socket.
func (w *Writer) setName(dst netip.AddrPort) bool {
	a := dst.Addr()
	w.maxBytes = maxGSOBytesIPv4
	if !w.v6 {
		if !a.Unmap().Is4() {
			return false
		}
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&w.name))
		sa.Family = syscall.AF_INET
		sa.Port = htons(dst.Port())
		sa.Addr = a.Unmap().As4()
		sa.Zero = [8]byte{}
		w.namelen = syscall.SizeofSockaddrInet4
		return true
	}
	w.name = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Port: htons(dst.Port()), Addr: a.As16()}
	w.namelen = syscall.SizeofSockaddrInet6
	if a.Is6() && !a.Is4In6() {
		w.maxBytes = maxGSOBytesIPv6
		if z := a.Zone(); z != "" {
			w.name.Scope_id = w.zoneIndex(z)
		}
	}
	return true
}

// zoneIndex returns the interface index of an IPv6 zone: a number, or an
// interface name (looked up once per change of name).
func (w *Writer) zoneIndex(z string) uint32 {
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n)
	}
	if z != w.zone {
		w.zone, w.zoneID = z, 0
		if ifi, err := net.InterfaceByName(z); err == nil {
			w.zoneID = uint32(ifi.Index)
		}
	}
	return w.zoneID
}

// htons converts a port to network byte order, as a sockaddr stores it.
func htons(p uint16) uint16 { return ntohs(p) }
