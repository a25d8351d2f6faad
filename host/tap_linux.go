package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/weave-switch/weave-switch/frame"
)

// TAP is a Linux TAP device opened without packet information. Frames are
// read in batches: one wait on the poller per batch, then reads until the
// device is empty or the batch is full.
//
// Read and Write may be called concurrently with each other, but Read from
// only one goroutine at a time. Close unblocks a pending Read, which then
// returns an error that Is os.ErrClosed (net.ErrClosed semantics).
type TAP struct {
	name   string
	file   *os.File
	closed atomic.Bool
	rc     syscall.RawConn

	// read state, owned by the single reader; readFn is bound once so
	// that a Read allocates nothing.
	rb     *frame.Batch
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	// write state, guarded by wmu.
	wmu     sync.Mutex
	wframes [][]byte
	wi      int
	werr    error
	writeFn func(fd uintptr) bool
}

// OpenTAP creates (or opens) the TAP device called name. The device is not
// persistent: it disappears when the TAP is closed or the process dies.
func OpenTAP(name string) (*TAP, error) {
	if err := checkLinkName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", permHint(err))
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tap %q: %w", name, permHint(err))
	}
	file := os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	t := &TAP{name: name, file: file, rc: rc}
	t.readFn = t.readable
	t.writeFn = t.writable
	return t, nil
}

// Name returns the interface name.
func (t *TAP) Name() string { return t.name }

// Read fills b with at least one frame and returns how many (also in b.N).
// Meta of every frame read is zeroed. Frames go to b.Bufs[i][b.Offset:].
func (t *TAP) Read(b *frame.Batch) (int, error) {
	t.rb, t.rn, t.rerr = b, 0, nil
	err := t.rc.Read(t.readFn)
	n := t.rn
	t.rb = nil
	b.N = n
	if n > 0 {
		return n, nil
	}
	if err == nil {
		err = t.rerr
	}
	return 0, t.closedErr(err)
}

func (t *TAP) readable(fd uintptr) bool {
	b := t.rb
	for t.rn < b.Cap() {
		room := b.Room(t.rn)
		m, err := unix.Read(int(fd), room)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) {
				return t.rn > 0 // false: wait for the poller
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			t.rerr = fmt.Errorf("read %s: %w", t.name, err)
			return true
		}
		if m == 0 {
			continue
		}
		b.Sizes[t.rn] = m
		b.Meta[t.rn] = frame.Meta{}
		t.rn++
	}
	return true
}

// Write writes every frame in frames, one write(2) each, and returns how
// many it wrote. Frames the device refuses are skipped and counted as
// written. Write is safe for concurrent use; the TAP does not retain frames.
func (t *TAP) Write(frames [][]byte) (int, error) {
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wframes, t.wi, t.werr = frames, 0, nil
	err := t.rc.Write(t.writeFn)
	n := t.wi
	t.wframes = nil
	if err == nil {
		err = t.werr
	}
	return n, t.closedErr(err)
}

func (t *TAP) writable(fd uintptr) bool {
	for t.wi < len(t.wframes) {
		_, err := unix.Write(int(fd), t.wframes[t.wi])
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EMSGSIZE):
				// A frame the device refuses (too big, malformed): skip
				// it rather than stall every frame behind it.
				t.wi++
				continue
			}
			t.werr = fmt.Errorf("write %s: %w", t.name, err)
			return true
		}
		t.wi++
	}
	return true
}

// Close closes the device; the kernel removes the interface. Pending and
// later Reads and Writes return an error that Is net.ErrClosed.
func (t *TAP) Close() error {
	if t.closed.Swap(true) {
		return nil
	}
	return t.file.Close()
}

func (t *TAP) closedErr(err error) error {
	if err != nil && t.closed.Load() {
		return fmt.Errorf("tap %s: %w", t.name, net.ErrClosed)
	}
	return err
}
