// Package fragment is what the overlay transports share to carry a frame
// too big for one datagram: the fragment descriptor each piece carries
// (Header) and the splitter that cuts a frame into pieces of one size
// (Splitter) numbered per frame (IDs). Each transport puts the descriptor
// at its own place in its own header; internal/reassembly puts the pieces
// back together. Nothing here allocates.
//
// The descriptor is 12 bytes, big endian:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                          id (uint32)                          |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                        offset (uint32)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                         total (uint32)                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// A piece of n bytes is bytes [offset, offset+n) of frame id (the
// sender's number for it, the same in every piece) of total bytes.
package fragment

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/weave-switch/weave-switch/frame"
)

// HeaderSize is the size of the fragment descriptor.
const HeaderSize = 12

// Header is a decoded fragment descriptor.
type Header struct {
	ID     uint32 // the sender's number for the frame
	Offset uint32 // of the piece's first byte in the frame
	Total  uint32 // the frame's length
}

// Put writes h into b[:HeaderSize].
func (h Header) Put(b []byte) {
	_ = b[HeaderSize-1]
	binary.BigEndian.PutUint32(b[0:], h.ID)
	binary.BigEndian.PutUint32(b[4:], h.Offset)
	binary.BigEndian.PutUint32(b[8:], h.Total)
}

// Get reads a descriptor from b[:HeaderSize], unchecked (see Check).
func Get(b []byte) Header {
	_ = b[HeaderSize-1]
	return Header{
		ID:     binary.BigEndian.Uint32(b[0:]),
		Offset: binary.BigEndian.Uint32(b[4:]),
		Total:  binary.BigEndian.Uint32(b[8:]),
	}
}

// ValidTotal reports whether a frame of total bytes may be carried in
// pieces: frame.EthernetHeaderSize <= total <= frame.MaxSuperFrameSize.
func ValidTotal(total uint32) bool {
	return total >= frame.EthernetHeaderSize && total <= frame.MaxSuperFrameSize
}

// Check reports whether h describes a piece of n bytes of a valid frame:
// ValidTotal(h.Total), n >= 1 and h.Offset+n <= h.Total. A piece that
// passes may be given to a reassembly.Reassembler.
func (h Header) Check(n int) bool {
	return ValidTotal(h.Total) && n >= 1 && uint64(h.Offset)+uint64(n) <= uint64(h.Total)
}

// Count returns how many pieces of per bytes (the last may be shorter) a
// frame of size bytes is cut into; per >= 1.
func Count(size, per int) int { return (size + per - 1) / per }

// IDs numbers the frames a sender cuts into pieces. Next is safe for
// concurrent use; the zero value starts at 1.
type IDs struct{ n atomic.Uint32 }

// Seed makes the next id v+1: a random seed keeps a restarted sender from
// reusing the ids of frames its receivers may still be reassembling.
func (c *IDs) Seed(v uint32) { c.n.Store(v) }

// Next returns a new id.
func (c *IDs) Next() uint32 { return c.n.Add(1) }

// Splitter cuts one frame into pieces of one size, the last possibly
// shorter, in order. The zero value has no pieces. It does not copy: the
// pieces alias the frame. A Splitter is not safe for concurrent use.
type Splitter struct {
	fr  []byte
	per int
	h   Header
}

// Start makes s cut fr into pieces of per bytes (per >= 1) under id.
func (s *Splitter) Start(id uint32, fr []byte, per int) {
	s.fr, s.per, s.h = fr, per, Header{ID: id, Total: uint32(len(fr))}
}

// More reports whether Next has pieces left.
func (s *Splitter) More() bool { return int(s.h.Offset) < len(s.fr) }

// Next returns the next piece and its descriptor, and reports whether it
// is the last one; ok is false when there are no more. After the last
// piece s holds no reference to the frame.
func (s *Splitter) Next() (h Header, data []byte, last, ok bool) {
	off := int(s.h.Offset)
	if off >= len(s.fr) {
		return Header{}, nil, false, false
	}
	end := min(off+s.per, len(s.fr))
	h, data = s.h, s.fr[off:end:end]
	s.h.Offset = uint32(end)
	if last = end == len(s.fr); last {
		s.fr, s.h = nil, Header{}
	}
	return h, data, last, true
}
