package sleeve

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// referenceValid is a slow, obviously correct statement of when a datagram
// is valid: the right version and flags, then one or more frames, each with
// a length in [14, MaxFrameSize] that ends inside the datagram, and nothing
// after the last one.
func referenceValid(d []byte) bool {
	if len(d) < HeaderSize || d[0] != Version || d[1] != 0 {
		return false
	}
	frames := 0
	for rest := d[HeaderSize:]; len(rest) > 0; frames++ {
		if len(rest) < FrameHeaderSize {
			return false
		}
		n := int(binary.BigEndian.Uint16(rest[12:14]))
		if n < frame.EthernetHeaderSize || n > frame.MaxFrameSize || FrameHeaderSize+n > len(rest) {
			return false
		}
		rest = rest[FrameHeaderSize+n:]
	}
	return frames > 0
}

func FuzzDecode(f *testing.F) {
	one := encode(peerA, []decoded{{frame.Meta{Src: peerB, Dst: peerC}, testFrame(60, 0)}})
	several := encode(peerA, []decoded{
		{frame.Meta{Src: peerB, Dst: peerC}, testFrame(14, 1)},
		{frame.Meta{Src: peerC}, testFrame(100, 2)},
		{frame.Meta{Src: peerA, Dst: peerB}, testFrame(1400, 3)},
	})
	f.Add(one)
	f.Add(several)
	f.Add(encode(peerA, []decoded{{frame.Meta{}, testFrame(frame.MaxFrameSize, 4)}}))
	// Malformed seeds:
	f.Add(one[:5])                           // truncated header
	f.Add(append([]byte{2}, one[1:]...))     // bad version
	f.Add(append([]byte{1, 1}, one[2:]...))  // flags set (encryption)
	f.Add(one[:HeaderSize])                  // header and no frame
	f.Add(one[:HeaderSize+7])                // truncated frame header
	f.Add(one[:len(one)-1])                  // length past end
	f.Add(append(bytes.Clone(one), 0, 0, 0)) // trailing bytes
	zero := bytes.Clone(one)                 // zero length
	binary.BigEndian.PutUint16(zero[HeaderSize+12:], 0)
	f.Add(zero)

	f.Fuzz(func(t *testing.T, d []byte) {
		var got []decoded
		var sender frame.PeerName
		err := Decode(d, func(m frame.Meta, fr []byte) {
			sender = m.Via
			got = append(got, decoded{frame.Meta{Src: m.Src, Dst: m.Dst}, fr})
		})
		if valid := referenceValid(d); valid != (err == nil) {
			t.Fatalf("Decode error %v, reference says valid=%v", err, valid)
		}
		if err != nil {
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			if len(got) != 0 {
				t.Fatalf("malformed datagram delivered %d frames", len(got))
			}
			return
		}
		if len(got) == 0 {
			t.Fatal("valid datagram with no frames")
		}
		for i, g := range got {
			if !validFrameSize(len(g.fr)) {
				t.Fatalf("frame %d: %d bytes out of bounds", i, len(g.fr))
			}
		}
		if re := encode(sender, got); !bytes.Equal(re, d) {
			t.Fatalf("round trip:\n got %x\nwant %x", re, d)
		}
		// The Reader sees the same frames.
		var r Reader
		if err := r.Reset(d); err != nil {
			t.Fatal(err)
		}
		for i := 0; r.More(); i++ {
			m, fr, _ := r.Next()
			if m.Src != got[i].meta.Src || m.Dst != got[i].meta.Dst || m.Via != sender || !bytes.Equal(fr, got[i].fr) {
				t.Fatalf("Reader frame %d differs from Decode's", i)
			}
		}
	})
}
