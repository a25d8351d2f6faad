package quictransport

import (
	"bytes"
	"errors"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

func encode(h Header, data []byte) []byte {
	b := make([]byte, h.Len()+len(data))
	n := h.Put(b)
	copy(b[n:], data)
	return b
}

func FuzzDecode(f *testing.F) {
	eth := make([]byte, 60)
	gso := frame.GSO{Flags: 1, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1348, CsumStart: 34, CsumOffset: 16}
	// Valid.
	f.Add(encode(Header{Src: 1, Dst: 2}, eth))
	f.Add(encode(Header{Src: 1, Dst: 0, Flags: FlagGSO, GSO: gso}, eth))
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment, ID: 7, Offset: 0, Total: 100}, eth))
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment | FlagGSO, GSO: gso, ID: 7, Offset: 40, Total: 100}, eth))
	// Malformed.
	f.Add([]byte{})                                                                                        // empty
	f.Add(encode(Header{Src: 1, Dst: 2}, eth)[:12])                                                        // truncated header
	f.Add(encode(Header{Src: 1, Dst: 2}, eth[:13]))                                                        // frame shorter than Ethernet
	f.Add(append(encode(Header{Src: 1, Dst: 2}, nil)[:12], 0x04))                                          // unknown flag
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagGSO, GSO: gso}, nil)[:18])                              // truncated GSO
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment, ID: 7, Offset: 90, Total: 100}, eth))         // past total
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment, ID: 7, Offset: 0, Total: 10}, eth[:5]))       // total too small
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment, ID: 7, Offset: 0, Total: 1 << 20}, eth))      // total too big
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment, ID: 7, Offset: 0xffffffff, Total: 100}, eth)) // offset overflow
	f.Add(encode(Header{Src: 1, Dst: 2, Flags: FlagFragment, ID: 7, Offset: 0, Total: 100}, nil))          // no data
	f.Fuzz(func(t *testing.T, d []byte) {
		var h Header
		n, err := Decode(d, &h)
		valid := validReference(d)
		if (err == nil) != valid {
			t.Fatalf("Decode(%x) err = %v, reference valid = %v", d, err, valid)
		}
		if err != nil {
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if n != h.Len() || n > len(d) {
			t.Fatalf("n = %d, Len = %d, len = %d", n, h.Len(), len(d))
		}
		if re := encode(h, d[n:]); !bytes.Equal(re, d) {
			t.Fatalf("round trip: %x != %x", re, d)
		}
	})
}

// validReference is the validity rule written out independently.
func validReference(d []byte) bool {
	if len(d) < 13 || d[12]&^3 != 0 {
		return false
	}
	hl := 13
	if d[12]&1 != 0 {
		hl += 10
	}
	frag := d[12]&2 != 0
	if frag {
		hl += 12
	}
	if len(d) < hl {
		return false
	}
	data := len(d) - hl
	if !frag {
		return data >= 14 && data <= frame.MaxSuperFrameSize
	}
	be := func(b []byte) uint64 { return uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]) }
	off, total := be(d[hl-8:]), be(d[hl-4:])
	return total >= 14 && total <= frame.MaxSuperFrameSize && data >= 1 && off+uint64(data) <= total
}

func TestHeaderPutDecode(t *testing.T) {
	h := Header{Src: 0xaabbccddeeff, Dst: 0x020000000001, Flags: FlagGSO | FlagFragment,
		GSO: frame.GSO{Flags: 1, Type: 4, HdrLen: 86, Size: 1428, CsumStart: 54, CsumOffset: 16}, ID: 9, Offset: 14, Total: 28}
	d := encode(h, make([]byte, 14))
	if len(d) != MaxHeaderSize+14 {
		t.Fatalf("len = %d", len(d))
	}
	var got Header
	if n, err := Decode(d, &got); err != nil || n != MaxHeaderSize || got != h {
		t.Fatalf("Decode = %+v, %d, %v", got, n, err)
	}
	if allocs := testing.AllocsPerRun(100, func() { Decode(d, &got); got.Put(d) }); allocs != 0 {
		t.Errorf("Decode+Put allocate %v times", allocs)
	}
}
