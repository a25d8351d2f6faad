package wireguard

import (
	"bytes"
	"errors"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/transport"
)

func testFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i)
	}
	return f
}

func TestEncodeDecode(t *testing.T) {
	tests := []struct {
		name string
		size int
		meta frame.Meta
	}{
		{"small", 60, frame.Meta{Src: 0x020000000001, Dst: 0x020000000002}},
		{"flood", 1400, frame.Meta{Src: 0x020000000001}},
		{"gso", 9000, frame.Meta{Src: 1, Dst: 2, GSO: frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1448, CsumStart: 34, CsumOffset: 16}}},
		{"max", MaxWholeFrame, frame.Meta{Src: 1, Dst: 2, GSO: frame.GSO{Type: frame.GSOTCPv6}}},
	}
	buf := make([]byte, TunMTU)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := testFrame(tt.size, 7)
			n := encode(buf, f, &tt.meta, 0x0a, 0x0b)
			if n == 0 || n > TunMTU {
				t.Fatalf("encode = %d", n)
			}
			var d decoded
			if err := decode(buf[:n], &d); err != nil {
				t.Fatal(err)
			}
			want := tt.meta
			want.Via = 0x0a
			if d.Meta != want || d.Via != 0x0a || d.To != 0x0b || !bytes.Equal(d.Frame, f) {
				t.Errorf("decode = %+v via %v to %v", d.Meta, d.Via, d.To)
			}
		})
	}
	if n := encode(buf, make([]byte, MaxWholeFrame+1), &frame.Meta{}, 1, 2); n != 0 {
		t.Errorf("encode accepted a %d-byte frame", MaxWholeFrame+1)
	}
	if n := encode(buf, make([]byte, 13), &frame.Meta{}, 1, 2); n != 0 {
		t.Error("encode accepted a 13-byte frame")
	}
}

func TestEncodeAllocs(t *testing.T) {
	buf, f, m := make([]byte, 2000), testFrame(1400, 1), frame.Meta{Src: 1, Dst: 2}
	var d decoded
	if a := testing.AllocsPerRun(100, func() {
		n := encode(buf, f, &m, 1, 2)
		if decode(buf[:n], &d) != nil {
			panic("decode")
		}
	}); a != 0 {
		t.Errorf("encode+decode: %v allocs, want 0", a)
	}
}

// FuzzDecode checks decode on arbitrary packets: err == nil exactly when
// the packet is canonical, that is when encoding the result gives the
// packet back (ignoring traffic class, flow label and hop limit), and a
// malformed packet always wraps transport.ErrMalformed.
func FuzzDecode(f *testing.F) {
	buf := make([]byte, 4096)
	add := func(fr []byte, m frame.Meta, mutate func(p []byte) []byte) {
		n := encode(buf, fr, &m, 0x020000000001, 0x020000000002)
		p := append([]byte(nil), buf[:n]...)
		if mutate != nil {
			p = mutate(p)
		}
		f.Add(p)
	}
	add(testFrame(60, 1), frame.Meta{Src: 3, Dst: 4}, nil)
	add(testFrame(14, 1), frame.Meta{Src: 3}, nil)
	add(testFrame(100, 1), frame.Meta{Src: 3, GSO: frame.GSO{Flags: 1, CsumStart: 34, CsumOffset: 6}}, nil)
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { return p[:len(p)-50] })        // truncated: bad payload length
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[0] = 0x45; return p })       // IPv4
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[6] = 58; return p })         // ICMPv6
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[40] = 2; return p })         // wrong version
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[41] = 0x80; return p })      // unknown flag
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[8] = 0xfe; return p })       // src outside prefix
	add(testFrame(60, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[41] = FlagGSO; return p })   // GSO flag, zero descriptor
	add(testFrame(14, 1), frame.Meta{Src: 3}, func(p []byte) []byte { p[5]--; return p[:len(p)-1] }) // 13-byte frame
	addPiece := func(data []byte, m frame.Meta, pc fragment.Header) {
		n := encodePiece(buf, data, &m, 0x020000000001, 0x020000000002, pc)
		f.Add(append([]byte(nil), buf[:n]...))
	}
	addPiece(testFrame(1300, 2), frame.Meta{Src: 3, Dst: 4}, fragment.Header{ID: 7, Offset: 0, Total: 65553})
	addPiece(testFrame(100, 2), frame.Meta{Src: 3, GSO: frame.GSO{Type: frame.GSOTCPv4, Size: 1448}}, fragment.Header{ID: 7, Offset: 65453, Total: 65553})
	addPiece(testFrame(100, 2), frame.Meta{Src: 3}, fragment.Header{ID: 1, Offset: 65500, Total: 65553}) // past the end
	addPiece(testFrame(10, 2), frame.Meta{Src: 3}, fragment.Header{ID: 1, Offset: 0, Total: 13})         // frame too short
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, p []byte) {
		var d decoded
		err := decode(p, &d)
		if err != nil {
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if d.Meta.Via != d.Via {
			t.Fatalf("invalid result %+v", d)
		}
		pc := fragment.Header{}
		if d.Frag {
			if len(d.Frame) == 0 || d.Offset+len(d.Frame) > d.Total || d.Total < frame.EthernetHeaderSize || d.Total > MaxFrameSize {
				t.Fatalf("invalid piece [%d, +%d) of %d", d.Offset, len(d.Frame), d.Total)
			}
			pc = fragment.Header{ID: d.ID, Offset: uint32(d.Offset), Total: uint32(d.Total)}
		} else if len(d.Frame) < frame.EthernetHeaderSize || len(d.Frame) > MaxWholeFrame {
			t.Fatalf("invalid result %+v, %d-byte frame", d.Meta, len(d.Frame))
		}
		out := make([]byte, len(p)+1)
		n := encodePiece(out, d.Frame, &d.Meta, d.Via, d.To, pc)
		want := append([]byte(nil), p...)
		copy(want[0:4], out[0:4])
		want[7] = out[7]
		if !bytes.Equal(out[:n], want) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", out[:n], want)
		}
	})
}

func TestPieces(t *testing.T) {
	m := frame.Meta{Src: 1, Dst: 2, GSO: frame.GSO{Type: frame.GSOTCPv4, Size: 1448}}
	for _, mtu := range []int{1500, 1280, 9000, 576} {
		ps := PacketSize(mtu, false)
		if ps%16 != 0 || ps+MessageOverhead+ipv4UDPOverhead > max(mtu, MinPacketSize+MessageOverhead+ipv4UDPOverhead) {
			t.Errorf("PacketSize(%d) = %d", mtu, ps)
		}
		f := testFrame(frame.MaxSuperFrameSize, 3)
		per := pieceData(ps, &m)
		buf := make([]byte, ps)
		got := make([]byte, len(f))
		for off := 0; off < len(f); off += per {
			k := min(per, len(f)-off)
			n := encodePiece(buf, f[off:off+k], &m, 1, 2, fragment.Header{ID: 9, Offset: uint32(off), Total: uint32(len(f))})
			if n == 0 || n > ps || (k == per && n != ps) {
				t.Fatalf("mtu %d: piece at %d is %d bytes, packet size %d", mtu, off, n, ps)
			}
			var d decoded
			if err := decode(buf[:n], &d); err != nil {
				t.Fatal(err)
			}
			want := m
			want.Via = 1
			if !d.Frag || d.ID != 9 || d.Offset != off || d.Total != len(f) || d.Meta != want {
				t.Fatalf("decoded %+v", d)
			}
			copy(got[off:], d.Frame)
		}
		if !bytes.Equal(got, f) {
			t.Errorf("mtu %d: pieces do not make the frame", mtu)
		}
	}
}
