package sleeve

import (
	"encoding/binary"
	"fmt"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Wire format constants; see the package documentation.
const (
	Version         = 1
	HeaderSize      = 2 + frame.PeerNameSize   // version, flags, sender
	FrameHeaderSize = 2*frame.PeerNameSize + 2 // src, dst, len
	MaxDatagramSize = HeaderSize + FrameHeaderSize + frame.MaxFrameSize
	// DefaultPort is the UDP port of the sleeve, as in Weave.
	DefaultPort = 6783
)

// IP and UDP header sizes of the underlay.
const (
	ipv4UDPOverhead = 20 + 8
	ipv6UDPOverhead = 40 + 8
)

// AppendHeader appends a datagram header (version 1, flags 0) naming sender.
func AppendHeader(b []byte, sender frame.PeerName) []byte {
	b = append(b, make([]byte, HeaderSize)...)
	putHeader(b[len(b)-HeaderSize:], sender)
	return b
}

// AppendFrame appends a frame header and the frame fr. The frame must be
// between frame.EthernetHeaderSize and frame.MaxFrameSize bytes long for the
// datagram to decode; AppendFrame does not check.
func AppendFrame(b []byte, meta frame.Meta, fr []byte) []byte {
	b = append(b, make([]byte, FrameHeaderSize)...)
	putFrameHeader(b[len(b)-FrameHeaderSize:], meta, len(fr))
	return append(b, fr...)
}

func putHeader(b []byte, sender frame.PeerName) {
	_ = b[HeaderSize-1]
	b[0] = Version
	b[1] = 0
	sender.Put(b[2:])
}

func putFrameHeader(b []byte, meta frame.Meta, n int) {
	_ = b[FrameHeaderSize-1]
	meta.Src.Put(b[0:])
	meta.Dst.Put(b[6:])
	binary.BigEndian.PutUint16(b[12:], uint16(n))
}

// validFrameSize reports whether a frame of n bytes may be carried.
func validFrameSize(n int) bool {
	return n >= frame.EthernetHeaderSize && n <= frame.MaxFrameSize
}

// Reader iterates over the frames of a datagram in place: it copies nothing
// and allocates nothing. The zero value holds no frames. A Reader is not
// safe for concurrent use.
type Reader struct {
	rest   []byte // frame headers and frames not yet returned, validated
	sender frame.PeerName
}

// Reset checks the whole datagram dgram and, if it is valid, makes r
// iterate over its frames; otherwise it empties r and returns a
// *DecodeError, which Is transport.ErrMalformed. r keeps a reference to
// dgram: the frames that Next returns alias it.
func (r *Reader) Reset(dgram []byte) error {
	if reason, off, val := r.reset(dgram); reason != dropNone {
		return &DecodeError{Reason: reason, Offset: off, Value: val, Size: len(dgram)}
	}
	return nil
}

// reset is Reset without allocating an error: it returns the reason, the
// offset and the offending value.
func (r *Reader) reset(d []byte) (reason DropReason, off, val int) {
	r.rest = nil
	switch {
	case len(d) < HeaderSize:
		return DropShort, 0, len(d)
	case d[0] != Version:
		return DropVersion, 0, int(d[0])
	case d[1] != 0:
		return DropFlags, 1, int(d[1])
	case len(d) == HeaderSize:
		return DropNoFrames, HeaderSize, 0
	}
	for off = HeaderSize; off < len(d); {
		if len(d)-off < FrameHeaderSize {
			return DropFrameHeader, off, len(d) - off
		}
		n := int(binary.BigEndian.Uint16(d[off+12:]))
		if !validFrameSize(n) {
			return DropFrameLength, off, n
		}
		if n > len(d)-off-FrameHeaderSize {
			return DropTruncated, off, n
		}
		off += FrameHeaderSize + n
	}
	r.sender = frame.PeerNameFrom(d[2:])
	r.rest = d[HeaderSize:]
	return dropNone, 0, 0
}

// Sender returns the sender name of the datagram last passed to Reset.
func (r *Reader) Sender() frame.PeerName { return r.sender }

// More reports whether Next has frames left to return.
func (r *Reader) More() bool { return len(r.rest) > 0 }

// Next returns the next frame and its Meta (Src and Dst from the frame
// header, Via the datagram's sender), or ok == false when there are no more.
func (r *Reader) Next() (meta frame.Meta, fr []byte, ok bool) {
	if len(r.rest) == 0 {
		return frame.Meta{}, nil, false
	}
	h := r.rest[:FrameHeaderSize]
	n := int(binary.BigEndian.Uint16(h[12:]))
	meta = frame.Meta{Src: frame.PeerNameFrom(h[0:]), Dst: frame.PeerNameFrom(h[6:]), Via: r.sender}
	fr = r.rest[FrameHeaderSize : FrameHeaderSize+n : FrameHeaderSize+n]
	r.rest = r.rest[FrameHeaderSize+n:]
	return meta, fr, true
}

// Decode checks the whole datagram dgram, then calls fn for each frame in
// order. If dgram is malformed it calls fn for no frame and returns a
// *DecodeError, which Is transport.ErrMalformed. The frame passed to fn
// aliases dgram.
func Decode(dgram []byte, fn func(meta frame.Meta, fr []byte)) error {
	var r Reader
	if err := r.Reset(dgram); err != nil {
		return err
	}
	for {
		meta, fr, ok := r.Next()
		if !ok {
			return nil
		}
		fn(meta, fr)
	}
}

// DropReason says why a received datagram was dropped.
type DropReason uint8

// Reasons for dropping a datagram, indexes of Stats.Dropped.
const (
	DropShort       DropReason = iota // shorter than the header
	DropVersion                       // version is not 1
	DropFlags                         // flags are not 0 (encryption is not implemented)
	DropNoFrames                      // a header and no frame
	DropFrameHeader                   // a truncated frame header at the end
	DropFrameLength                   // a frame length out of [14, frame.MaxFrameSize]
	DropTruncated                     // a frame length past the end of the datagram
	DropOversize                      // larger than MaxDatagramSize (cut by the socket)
	NumDropReasons

	dropNone DropReason = 255
)

var dropNames = [NumDropReasons]string{"short", "version", "flags", "no-frames", "frame-header", "frame-length", "truncated", "oversize"}

// String returns a short name for r, usable as a metric label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// DecodeError describes a malformed datagram. It Is transport.ErrMalformed.
type DecodeError struct {
	Reason DropReason
	Offset int // where in the datagram the problem is
	Value  int // the offending version, flags or length
	Size   int // length of the datagram
}

func (e *DecodeError) Error() string {
	var s string
	switch e.Reason {
	case DropShort:
		s = fmt.Sprintf("%d bytes is shorter than the %d-byte header", e.Size, HeaderSize)
	case DropVersion:
		s = fmt.Sprintf("unknown version %d (want %d)", e.Value, Version)
	case DropFlags:
		s = fmt.Sprintf("flags 0x%02x are not 0 (encryption is not supported)", e.Value)
	case DropNoFrames:
		s = "no frame after the header"
	case DropFrameHeader:
		s = fmt.Sprintf("frame header at offset %d truncated (%d bytes left)", e.Offset, e.Value)
	case DropFrameLength:
		s = fmt.Sprintf("frame at offset %d: length %d out of range [%d, %d]", e.Offset, e.Value, frame.EthernetHeaderSize, frame.MaxFrameSize)
	case DropTruncated:
		s = fmt.Sprintf("frame at offset %d: length %d runs past the end of the %d-byte datagram", e.Offset, e.Value, e.Size)
	case DropOversize:
		s = fmt.Sprintf("larger than %d bytes", MaxDatagramSize)
	default:
		s = e.Reason.String()
	}
	return "sleeve: malformed datagram: " + s
}

// Unwrap returns transport.ErrMalformed.
func (e *DecodeError) Unwrap() error { return transport.ErrMalformed }
