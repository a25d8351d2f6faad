package fragment

import (
	"bytes"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func TestHeaderRoundTrip(t *testing.T) {
	h := Header{ID: 0xdeadbeef, Offset: 1440, Total: 65000}
	var b [HeaderSize]byte
	h.Put(b[:])
	want := [HeaderSize]byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0x05, 0xa0, 0, 0, 0xfd, 0xe8}
	if b != want {
		t.Errorf("Put = %x, want %x", b, want)
	}
	if got := Get(b[:]); got != h {
		t.Errorf("Get = %+v, want %+v", got, h)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		n    int
		ok   bool
	}{
		{"first", Header{Offset: 0, Total: 100}, 40, true},
		{"last", Header{Offset: 60, Total: 100}, 40, true},
		{"whole", Header{Offset: 0, Total: 14}, 14, true},
		{"max", Header{Offset: frame.MaxSuperFrameSize - 1, Total: frame.MaxSuperFrameSize}, 1, true},
		{"empty", Header{Offset: 0, Total: 100}, 0, false},
		{"past total", Header{Offset: 61, Total: 100}, 40, false},
		{"offset at total", Header{Offset: 100, Total: 100}, 1, false},
		{"offset wraps", Header{Offset: 1<<32 - 1, Total: 100}, 2, false},
		{"total too small", Header{Offset: 0, Total: 13}, 5, false},
		{"total too big", Header{Offset: 0, Total: frame.MaxSuperFrameSize + 1}, 5, false},
	}
	for _, tt := range tests {
		if got := tt.h.Check(tt.n); got != tt.ok {
			t.Errorf("%s: Check(%d) = %v, want %v", tt.name, tt.n, got, tt.ok)
		}
	}
}

// The pieces of a frame are of one size but the last, cover it in order,
// pass Check, and their number is Count.
func TestSplitter(t *testing.T) {
	var ids IDs
	ids.Seed(1<<32 - 1)
	for _, tc := range []struct{ size, per int }{{14, 100}, {100, 100}, {101, 100}, {65535, 1399}, {3000, 1}} {
		fr := make([]byte, tc.size)
		for i := range fr {
			fr[i] = byte(i * 7)
		}
		var s Splitter
		id := ids.Next()
		s.Start(id, fr, tc.per)
		var got []byte
		n := 0
		for s.More() {
			h, data, last, ok := s.Next()
			if !ok || h.ID != id || int(h.Offset) != len(got) || int(h.Total) != tc.size || !h.Check(len(data)) {
				t.Fatalf("size %d per %d: piece %d: %+v, %d bytes, ok %v", tc.size, tc.per, n, h, len(data), ok)
			}
			if last != (int(h.Offset)+len(data) == tc.size) || (!last && len(data) != tc.per) {
				t.Fatalf("size %d per %d: piece %d of %d bytes, last %v", tc.size, tc.per, n, len(data), last)
			}
			got = append(got, data...)
			n++
		}
		if _, _, _, ok := s.Next(); ok || s.fr != nil {
			t.Error("Next after the last piece")
		}
		if !bytes.Equal(got, fr) || n != Count(tc.size, tc.per) {
			t.Errorf("size %d per %d: %d pieces (Count %d), equal %v", tc.size, tc.per, n, Count(tc.size, tc.per), bytes.Equal(got, fr))
		}
	}
}

func TestSplitterAllocs(t *testing.T) {
	fr := make([]byte, 65000)
	var s Splitter
	if n := testing.AllocsPerRun(100, func() {
		for s.Start(1, fr, 1400); s.More(); {
			s.Next()
		}
	}); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
