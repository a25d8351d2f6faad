package ovs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// genlConn is a generic netlink socket driven by Go's netpoller, so that
// Close unblocks a goroutine waiting in recv (go-odp's sockets block in
// recvfrom(2), and closing one does not wake its reader). It is used for
// the upcall socket and the few requests go-odp does not offer (setting a
// vport's upcall PID, reading the datapath's counters).
//
// request and recv must not be called concurrently with each other;
// Close may be called at any time.
type genlConn struct {
	f    *os.File
	rc   syscall.RawConn
	pid  uint32 // our netlink port id
	seq  uint32
	buf  []byte
	once sync.Once
	shut atomic.Bool
}

// openGenl opens a NETLINK_GENERIC socket in the calling thread's
// network namespace.
func openGenl() (*genlConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("generic netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind generic netlink socket: %w", err)
	}
	// A burst of misses must not make the kernel report ENOBUFS to us:
	// it counts them as lost (n_lost) and we carry on.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_NO_ENOBUFS, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("generic netlink getsockname: %w", err)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		unix.Close(fd)
		return nil, errors.New("generic netlink getsockname: not a netlink address")
	}
	f := os.NewFile(uintptr(fd), "genetlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &genlConn{f: f, rc: rc, pid: nl.Pid, buf: make([]byte, 1<<16)}, nil
}

// Close closes the socket and unblocks recv, which then returns
// os.ErrClosed. It is idempotent.
func (c *genlConn) Close() error {
	var err error
	c.once.Do(func() {
		c.shut.Store(true)
		err = c.f.Close()
	})
	return err
}

// recv reads one datagram (one or more netlink messages) from the kernel.
// Datagrams from other senders are skipped: only the kernel (port 0) may
// tell us about misses. The returned slice is valid until the next recv.
func (c *genlConn) recv() ([]byte, error) {
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := c.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), c.buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			if c.shut.Load() {
				return nil, os.ErrClosed // the poller says "use of closed file"
			}
			return nil, err
		}
		if rerr == unix.ENOBUFS {
			continue
		}
		if rerr != nil {
			return nil, fmt.Errorf("generic netlink recv: %w", rerr)
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue
		}
		return c.buf[:n], nil
	}
}

func (c *genlConn) send(msg []byte) error {
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// request sends one request (built by newRequest) with NLM_F_ACK and
// returns the payloads (after the netlink header) of the replies that
// carry data, stopping at the ACK, an error or NLMSG_DONE.
func (c *genlConn) request(msg []byte, dump bool) ([][]byte, error) {
	c.seq++
	flags := uint16(unix.NLM_F_REQUEST | unix.NLM_F_ACK)
	if dump {
		flags |= unix.NLM_F_DUMP
	}
	binary.NativeEndian.PutUint16(msg[6:8], flags)
	binary.NativeEndian.PutUint32(msg[8:12], c.seq)
	if err := c.send(msg); err != nil {
		return nil, fmt.Errorf("generic netlink send: %w", err)
	}
	var out [][]byte
	for {
		b, err := c.recv()
		if err != nil {
			return nil, err
		}
		for len(b) >= unix.NLMSG_HDRLEN {
			h, body, rest, err := splitNlmsg(b)
			if err != nil {
				return nil, err
			}
			b = rest
			if h.Seq != c.seq || h.Pid != c.pid {
				continue // a late reply to an earlier request
			}
			switch h.Type {
			case unix.NLMSG_ERROR:
				if len(body) < 4 {
					return nil, errors.New("generic netlink: short error message")
				}
				if e := int32(binary.NativeEndian.Uint32(body)); e != 0 {
					return nil, syscall.Errno(-e)
				}
				return out, nil // the ACK
			case unix.NLMSG_DONE:
				return out, nil
			default:
				out = append(out, append([]byte(nil), body...))
			}
		}
	}
}

// splitNlmsg splits the first netlink message off b.
func splitNlmsg(b []byte) (h unix.NlMsghdr, body, rest []byte, err error) {
	if len(b) < unix.NLMSG_HDRLEN {
		return h, nil, nil, errors.New("netlink message shorter than its header")
	}
	h.Len = binary.NativeEndian.Uint32(b[0:4])
	h.Type = binary.NativeEndian.Uint16(b[4:6])
	h.Flags = binary.NativeEndian.Uint16(b[6:8])
	h.Seq = binary.NativeEndian.Uint32(b[8:12])
	h.Pid = binary.NativeEndian.Uint32(b[12:16])
	if h.Len < unix.NLMSG_HDRLEN || int(h.Len) > len(b) {
		return h, nil, nil, fmt.Errorf("netlink message length %d out of range (have %d bytes)", h.Len, len(b))
	}
	body = b[unix.NLMSG_HDRLEN:h.Len]
	next := nlAlign(int(h.Len))
	if next > len(b) {
		next = len(b)
	}
	return h, body, b[next:], nil
}
