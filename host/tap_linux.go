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
	"github.com/weave-switch/weave-switch/host/internal/segment"
)

// TAP is a Linux TAP device opened without packet information. Frames are
// read in batches: one wait on the poller per batch, then reads until the
// device is empty or the batch is full.
//
// With offloads (OpenTAP's offload argument, when the kernel accepts
// them), the TAP is opened with IFF_VNET_HDR and TUNSETOFFLOAD(CSUM, TSO4,
// TSO6, and USO4/6 where supported): the kernel hands the router TCP
// super-frames of up to 64 KiB with partial checksums, described by a
// virtio_net_hdr that Read moves into Meta.GSO, and accepts them back the
// same way on Write. Batches then need b.Offset >= frame.VirtioNetHdrSize
// (the header is read into and written from the headroom, no copy) and
// buffers of frame.MaxSuperFrameSize.
//
// Read and Write may be called concurrently with each other, but Read from
// only one goroutine at a time. Close unblocks a pending Read, which then
// returns an error that Is os.ErrClosed (net.ErrClosed semantics).
type TAP struct {
	vnet   bool // IFF_VNET_HDR with offloads
	name   string
	file   *os.File
	closed atomic.Bool
	rc     syscall.RawConn

	// read state, owned by the single reader; readFn is bound once so
	// that a Read allocates nothing.
	rb     *frame.Batch
	rn     int
	rdrop  atomic.Uint64 // frames refused on Write without offloads
	rerr   error
	readFn func(fd uintptr) bool

	// write state, guarded by wmu.
	wmu     sync.Mutex
	wb      *frame.Batch
	widx    []int
	wi      int
	werr    error
	writeFn func(fd uintptr) bool
	// Segments of the super-frame being written without offloads:
	// wseg[wsegI:wsegN] are still to go. wseg is allocated on the first
	// super-frame (segScratch buffers of frame.MaxFrameSize) and reused.
	wseg         [][]byte
	wsegI, wsegN int
}

// segScratch is how many segments one super-frame may be cut into on a
// TAP without offloads: enough for 64 KiB at an MSS of 1024 (and for any
// USO super-frame, which Linux caps at 64 datagrams).
const segScratch = 64

// OpenTAP creates (or opens) the TAP device called name. The device is not
// persistent: it disappears when the TAP is closed or the process dies.
// With offload, it asks for virtio_net_hdr offloads and falls back to a
// plain TAP when the kernel refuses them (Offloads then reports false).
func OpenTAP(name string, offload bool) (*TAP, error) {
	if offload {
		t, err := openTAP(name, true, false)
		if err == nil {
			return t, nil
		}
	}
	return openTAP(name, false, false)
}

// OpenTAPQueues opens the TAP called name with n queues (IFF_MULTI_QUEUE,
// n >= 1): the kernel spreads the frames it hands the router over the
// queues by flow hash, so one reader per queue works on several cores
// without reordering a flow. All queues share the device and its
// offloads; a frame may be written to any of them. With offload it falls
// back to a plain TAP as OpenTAP does.
func OpenTAPQueues(name string, n int, offload bool) ([]*TAP, error) {
	if n <= 1 {
		t, err := OpenTAP(name, offload)
		if err != nil {
			return nil, err
		}
		return []*TAP{t}, nil
	}
	open := func(vnet bool) ([]*TAP, error) {
		var qs []*TAP
		for range n {
			t, err := openTAP(name, vnet, true)
			if err != nil {
				for _, q := range qs {
					q.Close()
				}
				return nil, err
			}
			qs = append(qs, t)
		}
		return qs, nil
	}
	if offload {
		if qs, err := open(true); err == nil {
			return qs, nil
		}
	}
	return open(false)
}

// Offloads reports whether the TAP carries virtio_net_hdr offloads.
func (t *TAP) Offloads() bool { return t.vnet }

// Dropped returns how many frames Write refused because they needed
// offloads a plain TAP does not have and it could not do their work in
// userspace: super-frames segment.Cut refuses (malformed, or more than
// 64 segments) and partial checksums whose offsets do not fit.
func (t *TAP) Dropped() uint64 { return t.rdrop.Load() }

func openTAP(name string, vnet, multiQueue bool) (*TAP, error) {
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
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if vnet {
		flags |= unix.IFF_VNET_HDR
	}
	if multiQueue {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("create tap %q: %w", name, permHint(err))
	}
	if vnet {
		if err := setOffloads(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("tap %q offloads: %w", name, err)
		}
	}
	file := os.NewFile(uintptr(fd), "/dev/net/tun:"+name)
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("tap %q: %w", name, err)
	}
	t := &TAP{name: name, file: file, rc: rc, vnet: vnet}
	t.readFn = t.readable
	t.writeFn = t.writable
	return t, nil
}

// Name returns the interface name.
func (t *TAP) Name() string { return t.name }

// Read fills b with at least one frame and returns how many (also in b.N).
// Meta of every frame read is zeroed. Frames go to b.Bufs[i][b.Offset:].
func (t *TAP) Read(b *frame.Batch) (int, error) {
	if t.vnet && b.Offset < frame.VirtioNetHdrSize {
		return 0, fmt.Errorf("read %s: batch headroom %d < %d for the virtio header", t.name, b.Offset, frame.VirtioNetHdrSize)
	}
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
	hdr := 0
	if t.vnet {
		hdr = frame.VirtioNetHdrSize
	}
	for t.rn < b.Cap() {
		room := b.Bufs[t.rn][b.Offset-hdr:]
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
		if m <= hdr {
			continue
		}
		b.Sizes[t.rn] = m - hdr
		b.Meta[t.rn] = frame.Meta{}
		if t.vnet {
			b.Meta[t.rn].GSO = frame.GSOFromVirtio(room)
		}
		t.rn++
	}
	return true
}

// Write writes the frames b.Frame(i) for i in idx, one write(2) each,
// with their Meta[i].GSO, and returns how many it handled. With offloads
// the virtio_net_hdr goes into the headroom in front of each frame. Without
// them, a partial checksum is completed in userspace (in place, in b) and
// a super-frame is cut into ordinary frames by segment.Cut, into scratch
// buffers the TAP owns, and written one segment at a time; one it cannot
// segment is dropped (counted in Dropped). Frames (or segments) the device
// refuses are skipped.
// Write trusts Meta[i].GSO: a caller with frames from the network checks
// each descriptor against its frame first (frame.CheckGSO), as the router
// does. Write is safe for concurrent use; the TAP does not retain b.
func (t *TAP) Write(b *frame.Batch, idx []int) (int, error) {
	if t.vnet && b.Offset < frame.VirtioNetHdrSize {
		return 0, fmt.Errorf("write %s: batch headroom %d < %d for the virtio header", t.name, b.Offset, frame.VirtioNetHdrSize)
	}
	t.wmu.Lock()
	defer t.wmu.Unlock()
	t.wb, t.widx, t.wi, t.werr = b, idx, 0, nil
	t.wsegI, t.wsegN = 0, 0
	err := t.rc.Write(t.writeFn)
	n := t.wi
	t.wb, t.widx = nil, nil
	if err == nil {
		err = t.werr
	}
	return n, t.closedErr(err)
}

func (t *TAP) writable(fd uintptr) bool {
	b := t.wb
	for t.wi < len(t.widx) {
		i := t.widx[t.wi]
		var out []byte
		if t.vnet {
			out = b.Bufs[i][b.Offset-frame.VirtioNetHdrSize : b.Offset+b.Sizes[i]]
			b.Meta[i].GSO.PutVirtio(out)
		} else {
			out = b.Frame(i)
			if g := b.Meta[i].GSO; g.IsSuper() {
				if !t.writeSegments(fd, out, g) {
					return false // EAGAIN: resume at segment wsegI
				}
				if t.werr != nil {
					return true
				}
				t.wi++
				continue
			} else if g.Flags&frame.GSOFlagNeedsCsum != 0 {
				if !frame.CompleteChecksum(out, g) {
					t.rdrop.Add(1)
					t.wi++
					continue
				}
			}
		}
		_, err := unix.Write(int(fd), out)
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

// writeSegments writes the super-frame f (described by g) to a TAP
// without offloads as ordinary frames: it segments f into t.wseg unless a
// previous call stopped part way (t.wsegI < t.wsegN), then writes the
// remaining segments. It returns false on EAGAIN (call again when
// writable) and true when the super-frame is done: written, dropped and
// counted, or stopped by an error left in t.werr. Called with wmu held.
func (t *TAP) writeSegments(fd uintptr, f []byte, g frame.GSO) bool {
	if t.wsegI >= t.wsegN {
		if t.wseg == nil {
			t.wseg = make([][]byte, segScratch)
			backing := make([]byte, segScratch*frame.MaxFrameSize)
			for j := range t.wseg {
				t.wseg[j] = backing[j*frame.MaxFrameSize : (j+1)*frame.MaxFrameSize : (j+1)*frame.MaxFrameSize]
			}
		}
		n, err := segment.Cut(f, g, t.wseg)
		if err != nil {
			t.rdrop.Add(1)
			return true
		}
		t.wsegI, t.wsegN = 0, n
	}
	for t.wsegI < t.wsegN {
		_, err := unix.Write(int(fd), t.wseg[t.wsegI])
		if err != nil {
			switch {
			case errors.Is(err, unix.EAGAIN):
				return false
			case errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EMSGSIZE):
				// A segment the device refuses: skip it, as Write does.
			default:
				t.werr = fmt.Errorf("write %s: %w", t.name, err)
				t.wsegI, t.wsegN = 0, 0
				return true
			}
		}
		t.wsegI++
	}
	t.wsegI, t.wsegN = 0, 0
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
