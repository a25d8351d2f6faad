//go:build unix

package iomem

import "golang.org/x/sys/unix"

var pageSize = unix.Getpagesize()

// failMap makes mapAnon fail, for tests of the heap fallback.
var failMap bool

func mapAnon(n int) ([]byte, error) {
	if failMap {
		return nil, unix.ENOMEM
	}
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
}

func dontNeed(b []byte) error { return unix.Madvise(b, unix.MADV_DONTNEED) }

func unmap(b []byte) error { return unix.Munmap(b) }
