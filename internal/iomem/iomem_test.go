//go:build linux

package iomem

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident counts the pages of b in memory.
func resident(t *testing.T, b []byte) int {
	t.Helper()
	vec := make([]byte, (len(b)+pageSize-1)/pageSize)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatal(errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestRegionPages: a buffer costs the pages its reads wrote, and Release
// gives back those of the buffers past the mark, which read as zeros.
func TestRegionPages(t *testing.T) {
	const n, size = 8, 64<<10 + 100
	r := New(n, size)
	defer r.Free()
	if r.Heap() {
		t.Fatal("the mapping failed")
	}
	stride := (size + pageSize - 1) / pageSize * pageSize
	if got := resident(t, r.mem); got != 0 {
		t.Fatalf("new region: %d pages resident, want 0", got)
	}
	for i := range n {
		b := r.Buf(i)
		if len(b) != size || cap(b) != size {
			t.Fatalf("buffer %d: len %d cap %d, want %d", i, len(b), cap(b), size)
		}
		if off := uintptr(i * stride); &b[0] != &r.mem[off] {
			t.Fatalf("buffer %d does not start on its page", i)
		}
		b[0] = byte(i + 1) // a heartbeat: one page
	}
	copy(r.Buf(5), bytes.Repeat([]byte{0xaa}, size)) // a super-frame: every page
	r.Used(n)
	full := stride / pageSize
	if got, want := resident(t, r.mem), n-1+full; got != want {
		t.Fatalf("after reads: %d pages resident, want %d", got, want)
	}
	r.Release(3)
	if got := resident(t, r.mem); got != 3 {
		t.Fatalf("after Release(3): %d pages resident, want 3", got)
	}
	if r.Dirty() != 3 {
		t.Fatalf("Dirty() = %d after Release(3), want 3", r.Dirty())
	}
	// Released buffers work as before.
	r.Buf(6)[100] = 1
	r.Used(7)
	if got := resident(t, r.mem); got != 3+1 {
		t.Fatalf("after a write to a released buffer: %d pages resident, want 4", got)
	}
	r.Release(7) // nothing past 7 was written
	r.Release(4)
	if got := resident(t, r.mem); got != 3 {
		t.Fatalf("after Release(4): %d pages resident, want 3", got)
	}
	// (Reading a released page maps the kernel's zero page, which mincore
	// counts, so the contents are checked last.)
	for i := range n {
		want := byte(0)
		if i < 3 {
			want = byte(i + 1)
		}
		if got := r.Buf(i)[0]; got != want {
			t.Fatalf("buffer %d starts with %#x after Release(3), want %#x", i, got, want)
		}
	}
	if !bytes.Equal(r.Buf(5), make([]byte, size)) {
		t.Fatal("a released buffer is not zero")
	}
}

// TestRegionHeapFallback: without the mapping the buffers are on the heap
// and behave alike.
func TestRegionHeapFallback(t *testing.T) {
	failMap = true
	defer func() { failMap = false }()
	r := New(4, 1000)
	defer r.Free()
	if !r.Heap() {
		t.Fatal("Heap() = false with the mapping refused")
	}
	for i := range 4 {
		if b := r.Buf(i); len(b) != 1000 || cap(b) != 1000 {
			t.Fatalf("buffer %d: len %d cap %d", i, len(b), cap(b))
		}
		r.Buf(i)[999] = 7
	}
	r.Used(4)
	r.Release(1)
	if r.Buf(0)[999] != 7 || r.Buf(1)[999] != 0 || r.Buf(3)[999] != 0 {
		t.Fatal("Release(1) on the heap: buffer 0 changed or buffers 1.. not zero")
	}
}

// TestRegionEmpty: a region of no buffers is valid.
func TestRegionEmpty(t *testing.T) {
	r := New(0, 10)
	if r.Len() != 0 || len(r.Bufs(0)) != 0 {
		t.Fatal("empty region has buffers")
	}
	r.Release(0)
	r.Free()
}

// TestRegionTrim: Trim keeps the pages of what the reads of this period
// and the last needed (Wrote), rounded up to least times a power of two.
func TestRegionTrim(t *testing.T) {
	r := New(64, 100)
	defer r.Free()
	r.Wrote(1, 64) // a read that filled the region
	r.Trim(2, 4)
	if r.Dirty() != 64 {
		t.Fatalf("the period after a full read: %d buffers keep pages, want 64", r.Dirty())
	}
	r.Wrote(2, 5) // needed 6
	r.Trim(3, 4)
	if r.Dirty() != 8 {
		t.Fatalf("after reads of 5: %d buffers keep pages, want 8", r.Dirty())
	}
	r.Trim(5, 4)
	if r.Dirty() != 4 {
		t.Fatalf("after idle periods: %d buffers keep pages, want 4", r.Dirty())
	}
}
