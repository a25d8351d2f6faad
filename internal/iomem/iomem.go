// Package iomem keeps the buffers that reads from sockets and devices fill
// outside the garbage-collected heap, in an anonymous private mapping.
//
// A reader sizes its buffers for its biggest read (a batch of 64 buffers
// of a 64 KiB super-frame each), but most reads are small: a heartbeat, an
// ACK, a DNS answer. On the heap such buffers count in full as live heap,
// which the collector lets grow to twice that before it collects, and they
// are written whole when zeroed for reuse. In a mapping the kernel gives a
// page only when a read writes into it, the collector neither scans nor
// counts it, and Release hands the pages of buffers no longer needed back
// to the kernel. A buffer that only ever held heartbeats costs one page.
package iomem

import "github.com/weave-switch/weave-switch/internal/demand"

// Region is n buffers of size bytes, each starting on a page boundary.
// Its methods other than Free are for the one goroutine that reads into
// it; Free only once nothing uses its buffers.
type Region struct {
	mem    []byte
	size   int // bytes per buffer
	stride int // size rounded up to whole pages
	n      int
	dirty  int  // buffers [0, dirty) may hold pages
	heap   bool // mapping failed: mem is on the heap, Release only forgets
	// needs is what the reads of the current period and the last
	// needed (Wrote, Trim).
	needs demand.Window
}

// New returns a region of n buffers of size bytes. If the kernel refuses
// the mapping, the buffers are on the heap instead (Release then gives
// nothing back), so a reader always gets its buffers.
func New(n, size int) *Region {
	if n < 0 || size <= 0 {
		panic("iomem: bad region size")
	}
	r := &Region{size: size, stride: (size + pageSize - 1) &^ (pageSize - 1), n: n}
	if n == 0 {
		return r
	}
	mem, err := mapAnon(n * r.stride)
	if err != nil {
		mem, r.heap = make([]byte, n*r.stride), true
	}
	r.mem = mem
	return r
}

// Len is the number of buffers.
func (r *Region) Len() int { return r.n }

// Buf returns buffer i, its capacity its length.
func (r *Region) Buf(i int) []byte {
	off := i * r.stride
	return r.mem[off : off+r.size : off+r.size]
}

// Bufs returns buffers [0, n) in a new slice.
func (r *Region) Bufs(n int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = r.Buf(i)
	}
	return bufs
}

// Used records that buffers [0, n) may have been written.
func (r *Region) Used(n int) { r.dirty = max(r.dirty, min(n, r.n)) }

// Dirty is the number of leading buffers that may hold pages: those
// written since they were last released.
func (r *Region) Dirty() int { return r.dirty }

// Release gives the pages of buffers [from, Len()) back to the kernel;
// they read as zeros after. Nothing may use those buffers' contents any
// more.
func (r *Region) Release(from int) {
	from = max(from, 0)
	if from >= r.dirty {
		return
	}
	if !r.heap {
		if err := dontNeed(r.mem[from*r.stride : r.dirty*r.stride]); err != nil {
			// Only a bad range fails, and the range is the region's.
			panic("iomem: " + err.Error())
		}
	} else {
		clear(r.mem[from*r.stride : r.dirty*r.stride])
	}
	r.dirty = from
}

// Wrote records a read, in period (a caller's count of fixed intervals),
// that wrote buffers [0, n): it needed n+1 of them (one more to show the
// socket or device was drained), or all of them if it filled them.
func (r *Region) Wrote(period int64, n int) {
	r.Used(n)
	r.needs.Note(period, min(n+1, r.n))
}

// Trim gives back, in period, the pages of the buffers beyond what the
// reads of this period and the last needed (Wrote), rounded up to least
// times a power of two, and never fewer than least.
func (r *Region) Trim(period int64, least int) {
	r.Release(r.needs.Keep(period, r.dirty, least))
}

// Heap reports whether the buffers are on the heap (the mapping failed).
func (r *Region) Heap() bool { return r.heap }

// Free unmaps the region. Nothing may use its buffers after.
func (r *Region) Free() {
	if r.mem != nil && !r.heap {
		if err := unmap(r.mem); err != nil {
			panic("iomem: " + err.Error())
		}
	}
	r.mem, r.n, r.dirty = nil, 0, 0
}
