package sleeve

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

const (
	peerA frame.PeerName = 0x0200000000a1
	peerB frame.PeerName = 0x0200000000b2
	peerC frame.PeerName = 0x0200000000c3
)

// testFrame returns n bytes of a recognisable pattern.
func testFrame(n int, seed byte) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = seed + byte(i)
	}
	return f
}

type decoded struct {
	meta frame.Meta
	fr   []byte
}

func encode(sender frame.PeerName, frames []decoded) []byte {
	d := AppendHeader(nil, sender)
	for _, f := range frames {
		d = AppendFrame(d, f.meta, f.fr)
	}
	return d
}

func TestEncodeLayout(t *testing.T) {
	d := encode(peerA, []decoded{{frame.Meta{Src: peerB, Dst: peerC}, testFrame(14, 0)}})
	want := []byte{
		1, 0, 0x02, 0, 0, 0, 0, 0xa1, // version, flags, sender
		0x02, 0, 0, 0, 0, 0xb2, // src
		0x02, 0, 0, 0, 0, 0xc3, // dst
		0, 14, // len
	}
	want = append(want, testFrame(14, 0)...)
	if !bytes.Equal(d, want) {
		t.Fatalf("encoding:\n got %x\nwant %x", d, want)
	}
}

func TestDecodeValid(t *testing.T) {
	frames := []decoded{
		{frame.Meta{Src: peerB, Dst: peerC}, testFrame(14, 1)},
		{frame.Meta{Src: peerC, Dst: frame.UnknownPeer}, testFrame(1500, 2)},
		{frame.Meta{Src: peerA, Dst: peerB}, testFrame(frame.MaxFrameSize, 3)},
	}
	d := encode(peerA, frames)
	var got []decoded
	if err := Decode(d, func(m frame.Meta, fr []byte) { got = append(got, decoded{m, fr}) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(frames) {
		t.Fatalf("got %d frames, want %d", len(got), len(frames))
	}
	for i := range frames {
		want := frames[i].meta
		want.Via = peerA
		if got[i].meta != want || !bytes.Equal(got[i].fr, frames[i].fr) {
			t.Errorf("frame %d: got %+v (%d bytes), want %+v", i, got[i].meta, len(got[i].fr), want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	valid := encode(peerA, []decoded{{frame.Meta{Src: peerB}, testFrame(60, 0)}})
	withLen := func(n uint16) []byte {
		d := bytes.Clone(valid)
		binary.BigEndian.PutUint16(d[HeaderSize+12:], n)
		return d
	}
	tests := []struct {
		name   string
		dgram  []byte
		reason DropReason
		msg    string
	}{
		{"empty", nil, DropShort, "shorter than"},
		{"truncated header", valid[:5], DropShort, "shorter than"},
		{"bad version", append([]byte{2}, valid[1:]...), DropVersion, "unknown version 2"},
		{"version 0", append([]byte{0}, valid[1:]...), DropVersion, "unknown version 0"},
		{"flags set", append([]byte{1, 0x80}, valid[2:]...), DropFlags, "flags 0x80"},
		{"no frames", valid[:HeaderSize], DropNoFrames, "no frame"},
		{"truncated frame header", valid[:HeaderSize+13], DropFrameHeader, "truncated"},
		{"trailing garbage", append(bytes.Clone(valid), 1, 2, 3), DropFrameHeader, "truncated"},
		{"zero length", withLen(0), DropFrameLength, "length 0 out of range"},
		{"runt length", withLen(13), DropFrameLength, "length 13"},
		{"jumbo length", withLen(frame.MaxFrameSize + 1), DropFrameLength, "9019"},
		{"length past end", withLen(61), DropTruncated, "runs past the end"},
		{"frame cut short", valid[:len(valid)-1], DropTruncated, "runs past the end"},
		{"bad second frame", append(bytes.Clone(valid), withLen(0)[HeaderSize:]...), DropFrameLength, "offset 82"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			called := false
			err := Decode(tt.dgram, func(frame.Meta, []byte) { called = true })
			if err == nil {
				t.Fatal("Decode succeeded")
			}
			if called {
				t.Error("Decode delivered a frame of a malformed datagram")
			}
			if !errors.Is(err, transport.ErrMalformed) {
				t.Errorf("%v does not wrap ErrMalformed", err)
			}
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason != tt.reason {
				t.Errorf("got %v, want reason %v", err, tt.reason)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestReaderResetEmpties(t *testing.T) {
	var r Reader
	if r.More() {
		t.Fatal("zero Reader has frames")
	}
	good := encode(peerA, []decoded{{frame.Meta{}, testFrame(20, 0)}, {frame.Meta{}, testFrame(30, 0)}})
	if err := r.Reset(good); err != nil {
		t.Fatal(err)
	}
	if _, fr, ok := r.Next(); !ok || len(fr) != 20 {
		t.Fatal("first frame")
	}
	if err := r.Reset(good[:3]); err == nil {
		t.Fatal("Reset of a short datagram succeeded")
	}
	if r.More() {
		t.Fatal("failed Reset left frames")
	}
	if _, _, ok := r.Next(); ok {
		t.Fatal("Next after a failed Reset returned a frame")
	}
	if r.Sender() != peerA {
		t.Errorf("Sender = %v", r.Sender())
	}
}

func TestDropReasonString(t *testing.T) {
	seen := map[string]bool{}
	for r := range NumDropReasons {
		s := r.String()
		if s == "" || seen[s] {
			t.Errorf("reason %d: name %q empty or repeated", r, s)
		}
		seen[s] = true
	}
	if s := DropReason(200).String(); !strings.Contains(s, "200") {
		t.Errorf("unknown reason: %q", s)
	}
}

func TestDecodeAllocs(t *testing.T) {
	var frames []decoded
	for i := range 18 {
		frames = append(frames, decoded{frame.Meta{Src: peerB, Dst: peerC}, testFrame(64, byte(i))})
	}
	d := encode(peerA, frames)
	var r Reader
	total := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if err := r.Reset(d); err != nil {
			t.Fatal(err)
		}
		for {
			_, fr, ok := r.Next()
			if !ok {
				break
			}
			total += len(fr)
		}
	})
	if allocs != 0 {
		t.Errorf("Reset+Next: %v allocs per datagram, want 0", allocs)
	}
	dst := make([]byte, 0, len(d))
	allocs = testing.AllocsPerRun(1000, func() {
		dst = AppendHeader(dst[:0], peerA)
		for _, f := range frames {
			dst = AppendFrame(dst, f.meta, f.fr)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendHeader+AppendFrame: %v allocs, want 0", allocs)
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, size := range []int{64, 1400} {
		b.Run(sizeName(size), func(b *testing.B) {
			var frames []decoded
			for range (1472 - HeaderSize) / (FrameHeaderSize + size) {
				frames = append(frames, decoded{frame.Meta{Src: peerB}, testFrame(size, 0)})
			}
			d := encode(peerA, frames)
			var r Reader
			b.ReportAllocs()
			b.SetBytes(int64(len(d)))
			for b.Loop() {
				if err := r.Reset(d); err != nil {
					b.Fatal(err)
				}
				for r.More() {
					r.Next()
				}
			}
			b.ReportMetric(float64(b.N*len(frames))/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
