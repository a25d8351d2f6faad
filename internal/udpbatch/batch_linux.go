package udpbatch

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// DefaultBatchSize is the batch size transports default to: recvmmsg/sendmmsg make
// big batches pay, one system call moving up to this many datagrams.
const DefaultBatchSize = 128

// mmsghdr is struct mmsghdr of recvmmsg(2). Go pads it to the alignment of
// Msghdr, as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	len uint32
}

// Reader reads up to len(bufs) messages with one recvmmsg(2) through
// the runtime poller. Everything it hands the kernel is allocated once, in
// NewReader; the syscall is made with the standard syscall package, whose
// Msghdr is all recvmmsg needs (x/net's ReadBatch allocates a net.UDPAddr
// and a net.IP per datagram).
type Reader struct {
	rc    syscall.RawConn
	hdrs  []mmsghdr
	iovs  []syscall.Iovec
	names []syscall.RawSockaddrInet6
	bufs  [][]byte
	oob   []byte // ctl bytes per message, if GRO or control messages are on
	ctl   int

	vlen int // messages to read if not 0 (ReadInto)
	set  int // slots the last ReadInto filled

	// Results of the last recvmmsg, set by recvmmsg.
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool // r.recvmmsg, bound once
}

func NewReader(conn *net.UDPConn, bufs [][]byte, gro bool) (*Reader, error) {
	ctl := 0
	if gro {
		ctl = RecvCmsgSpace
	}
	return NewReaderControl(conn, bufs, ctl)
}

// NewReaderControl is NewReader with room for ctl bytes of control
// messages per datagram (0: none), for a socket with more than UDP_GRO
// turned on (IP_PKTINFO, IP_RECVTOS...): Control returns them.
func NewReaderControl(conn *net.UDPConn, bufs [][]byte, ctl int) (*Reader, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &Reader{
		rc:    rc,
		hdrs:  make([]mmsghdr, len(bufs)),
		iovs:  make([]syscall.Iovec, len(bufs)),
		names: make([]syscall.RawSockaddrInet6, len(bufs)),
		bufs:  bufs,
	}
	if ctl > 0 {
		ctl = (ctl + 7) &^ 7 // each message's control buffer stays 8-byte aligned
		r.oob, r.ctl = AlignedBytes(len(bufs)*ctl), ctl
	}
	for i := range bufs {
		r.iovs[i].Base = &bufs[i][0]
		r.iovs[i].SetLen(len(bufs[i]))
		h := &r.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		h.Namelen = syscall.SizeofSockaddrInet6
		h.Iov = &r.iovs[i]
		h.Iovlen = 1
		if r.oob != nil {
			h.Control = &r.oob[i*ctl]
			h.SetControllen(ctl)
		}
	}
	r.fn = r.recvmmsg
	return r, nil
}

// ReadInto is Read into bufs instead of the buffers given to NewReader
// (at most as many, each at least 1 byte long): for callers whose buffers
// change between reads, as wireguard-go's do.
//
// The slots beyond len(bufs) that an earlier ReadInto filled are cleared,
// so that the reader no longer holds their buffers: a caller that reads
// into fewer buffers than before can let the others go.
func (r *Reader) ReadInto(bufs [][]byte) (int, error) {
	bufs = bufs[:min(len(bufs), len(r.hdrs))]
	for i, b := range bufs {
		r.iovs[i].Base = &b[0]
		r.iovs[i].SetLen(len(b))
		r.bufs[i] = b
	}
	for i := len(bufs); i < r.set; i++ {
		r.iovs[i] = syscall.Iovec{}
		r.bufs[i] = nil
	}
	r.set = len(bufs)
	r.vlen = len(bufs)
	n, err := r.Read()
	r.vlen = 0
	return n, err
}

// Read blocks until at least one datagram is there and reads as many as
// are queued, up to len(bufs). After it, datagram i is bufs[i][:Size(i)].
func (r *Reader) Read() (int, error) {
	for i := range r.n {
		r.hdrs[i].hdr.Namelen = syscall.SizeofSockaddrInet6
		r.hdrs[i].hdr.Flags = 0
		r.hdrs[i].len = 0
		if r.oob != nil {
			r.hdrs[i].hdr.SetControllen(r.ctl)
		}
	}
	r.n, r.errno = 0, 0
	if err := r.rc.Read(r.fn); err != nil {
		return 0, err
	}
	if r.errno != 0 {
		return 0, os.NewSyscallError("recvmmsg", r.errno)
	}
	return r.n, nil
}

// recvmmsg runs on the socket's fd; it returns false to wait for
// readability.
func (r *Reader) recvmmsg(fd uintptr) bool {
	for {
		vlen := len(r.hdrs)
		if r.vlen > 0 {
			vlen = r.vlen
		}
		n, _, errno := syscall.Syscall6(syscall.SYS_RECVMMSG, fd,
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(vlen), 0, 0, 0)
		switch errno {
		case 0:
			r.n = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			r.errno = errno
			return true
		}
	}
}

// size returns the length of message i of the last read.
func (r *Reader) Size(i int) int { return int(r.hdrs[i].len) }

// truncated reports whether message i of the last read did not fit its
// buffer.
func (r *Reader) Truncated(i int) bool { return r.hdrs[i].hdr.Flags&syscall.MSG_TRUNC != 0 }

// segSize returns the size of the datagrams GRO coalesced into message i
// of the last read (the last may be shorter), or 0 for a single datagram.
func (r *Reader) SegSize(i int) int {
	if r.oob == nil {
		return 0
	}
	return GROSize(r.Control(i))
}

// Control returns the control messages of message i of the last read
// (nil without room for them).
func (r *Reader) Control(i int) []byte {
	if r.oob == nil {
		return nil
	}
	n := min(int(r.hdrs[i].hdr.Controllen), r.ctl)
	return r.oob[i*r.ctl : i*r.ctl+n]
}

// addr returns the sender of datagram i of the last read, IPv4-mapped
// addresses unmapped.
func (r *Reader) Addr(i int) netip.AddrPort {
	sa := &r.names[i]
	switch sa.Family {
	case syscall.AF_INET:
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), ntohs(sa4.Port))
	case syscall.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 && a.Is6() {
			// TODO: remove allocation (numeric zone; link-local peers only).
			a = a.WithZone(strconv.FormatUint(uint64(sa.Scope_id), 10))
		}
		return netip.AddrPortFrom(a.Unmap(), ntohs(sa.Port))
	}
	return netip.AddrPort{}
}

// ntohs converts a port as stored in a sockaddr (network byte order).
func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// SetSocketBuffers sets SO_RCVBUF and SO_SNDBUF to size, with the FORCE
// variants first, and returns what the kernel reports.
func SetSocketBuffers(conn *net.UDPConn, size int) (rcv, snd int, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	cerr := rc.Control(func(fd uintptr) {
		s := int(fd)
		if size > 0 {
			if syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, size) != nil {
				_ = syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_RCVBUF, size)
			}
			if syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_SNDBUFFORCE, size) != nil {
				_ = syscall.SetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
			}
		}
		rcv, _ = syscall.GetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_RCVBUF)
		snd, _ = syscall.GetsockoptInt(s, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
	})
	return rcv, snd, cerr
}
