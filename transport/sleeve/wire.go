package sleeve

import (
	"encoding/binary"
	"fmt"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/transport"
)

// Wire format constants; see the package documentation.
const (
	Version         = 1
	HeaderSize      = 2 + frame.PeerNameSize   // version, flags, sender
	FrameHeaderSize = 2*frame.PeerNameSize + 2 // src, dst, len
	// GSOSize is the size of the GSO descriptor (frame.GSO.PutWire) that
	// follows every frame header (and the fragment header) of a FlagGSO
	// datagram.
	GSOSize = frame.GSOWireSize
	// FragmentHeaderSize is the size of the header of a FlagFragment
	// datagram: src, dst and the fragment descriptor (id, offset, total).
	FragmentHeaderSize = 2*frame.PeerNameSize + fragment.HeaderSize
	// MaxDatagramSize bounds every valid datagram: a header, one frame
	// header and a frame.MaxFrameSize frame. Datagrams are built no bigger
	// than the packing limit (Config.UnderlayMTU), which is at most this.
	MaxDatagramSize = HeaderSize + FrameHeaderSize + frame.MaxFrameSize
	// DefaultPort is the UDP port of the sleeve, as in Weave.
	DefaultPort = 6783
)

// Bits of the flags byte of the datagram header. Any other bit set makes
// the datagram malformed.
const (
	// FlagGSO: every frame header (or the fragment header) of the datagram
	// is followed by a GSOSize-byte GSO descriptor.
	FlagGSO byte = 0x01
	// FlagFragment: the datagram holds one fragment of a frame too big for
	// a datagram, after a fragment header, instead of whole frames.
	FlagFragment byte = 0x02
	// FlagEncrypted: the header is followed by a CounterSize-byte counter
	// and the sealed rest of the datagram (see the package documentation).
	// A Sleeve opens such a datagram before decoding it; Reader and Decode
	// handle only plaintext datagrams and refuse it (DropFlags).
	FlagEncrypted byte = 0x04

	knownFlags = FlagGSO | FlagFragment
)

// Encrypted datagrams: the header (in clear), a counter (the nonce, in
// clear), the ciphertext of what follows the header in a plaintext
// datagram, and the Poly1305 tag.
const (
	// CounterSize is the size of the big-endian counter after the header.
	CounterSize = 8
	// TagSize is the size of the AEAD tag at the end (GCM's or Poly1305's).
	TagSize = 16
	// EncryptionOverhead is what encryption adds to a datagram.
	EncryptionOverhead = CounterSize + TagSize
)

// IP and UDP header sizes of the underlay.
const (
	ipv4UDPOverhead = 20 + 8
	ipv6UDPOverhead = 40 + 8
)

// Fragment is one piece of a frame carried in a FlagFragment datagram:
// Data is Frame[Offset:Offset+len(Data)] of a frame of Total bytes.
type Fragment struct {
	// Meta has Src, Dst and GSO of the whole frame; Reader sets Via to the
	// datagram's sender, AppendFragment ignores it.
	Meta   frame.Meta
	ID     uint32 // the sender's number for the frame, the same in every fragment
	Offset int
	Total  int
	Data   []byte // aliases the datagram for a Fragment from a Reader
}

// AppendHeader appends a datagram header (version 1, flags 0) naming sender.
func AppendHeader(b []byte, sender frame.PeerName) []byte {
	return AppendHeaderFlags(b, sender, 0)
}

// AppendHeaderFlags appends a datagram header with the given flags. A
// datagram with FlagGSO must then hold frames appended with AppendFrameGSO.
func AppendHeaderFlags(b []byte, sender frame.PeerName, flags byte) []byte {
	b = append(b, make([]byte, HeaderSize)...)
	putHeader(b[len(b)-HeaderSize:], sender, flags)
	return b
}

// AppendFrame appends a frame header and the frame fr, for a datagram
// without FlagGSO (meta.GSO is not sent). The frame must be between
// frame.EthernetHeaderSize and frame.MaxFrameSize bytes long for the
// datagram to decode; AppendFrame does not check.
func AppendFrame(b []byte, meta frame.Meta, fr []byte) []byte {
	b = append(b, make([]byte, FrameHeaderSize)...)
	putFrameHeader(b[len(b)-FrameHeaderSize:], meta, len(fr))
	return append(b, fr...)
}

// AppendFrameGSO is AppendFrame for a FlagGSO datagram: the frame header
// is followed by the GSO descriptor of meta.GSO.
func AppendFrameGSO(b []byte, meta frame.Meta, fr []byte) []byte {
	const n = FrameHeaderSize + GSOSize
	b = append(b, make([]byte, n)...)
	putFrameHeader(b[len(b)-n:], meta, len(fr))
	meta.GSO.PutWire(b[len(b)-GSOSize:])
	return append(b, fr...)
}

// AppendFragment appends a whole fragment datagram: a header with
// FlagFragment (and FlagGSO if f.Meta.GSO is not zero), the fragment
// header, the GSO descriptor if any, and f.Data. It does not check f: for
// the datagram to decode, f.Data must not be empty, f.Offset+len(f.Data)
// must not exceed f.Total, and f.Total must be between
// frame.EthernetHeaderSize and frame.MaxSuperFrameSize.
func AppendFragment(b []byte, sender frame.PeerName, f *Fragment) []byte {
	flags, n := FlagFragment, HeaderSize+FragmentHeaderSize
	if !f.Meta.GSO.IsZero() {
		flags, n = FlagFragment|FlagGSO, n+GSOSize
	}
	b = append(b, make([]byte, n)...)
	h := b[len(b)-n:]
	putHeader(h, sender, flags)
	putFragmentHeader(h[HeaderSize:], f)
	if flags&FlagGSO != 0 {
		f.Meta.GSO.PutWire(h[HeaderSize+FragmentHeaderSize:])
	}
	return append(b, f.Data...)
}

func putHeader(b []byte, sender frame.PeerName, flags byte) {
	_ = b[HeaderSize-1]
	b[0] = Version
	b[1] = flags
	sender.Put(b[2:])
}

func putFrameHeader(b []byte, meta frame.Meta, n int) {
	_ = b[FrameHeaderSize-1]
	meta.Src.Put(b[0:])
	meta.Dst.Put(b[6:])
	binary.BigEndian.PutUint16(b[12:], uint16(n))
}

func putFragmentHeader(b []byte, f *Fragment) {
	_ = b[FragmentHeaderSize-1]
	f.Meta.Src.Put(b[0:])
	f.Meta.Dst.Put(b[6:])
	fragment.Header{ID: f.ID, Offset: uint32(f.Offset), Total: uint32(f.Total)}.Put(b[12:])
}

// frameHeaderLen returns the bytes in front of a frame in a datagram whose
// FlagGSO is gso.
func frameHeaderLen(gso bool) int {
	if gso {
		return FrameHeaderSize + GSOSize
	}
	return FrameHeaderSize
}

// validFrameSize reports whether a frame of n bytes may be carried whole in
// a datagram.
func validFrameSize(n int) bool {
	return n >= frame.EthernetHeaderSize && n <= frame.MaxFrameSize
}

// validSendSize reports whether Send accepts a frame of n bytes (one
// bigger than a datagram is fragmented).
func validSendSize(n int) bool {
	return n >= frame.EthernetHeaderSize && n <= frame.MaxSuperFrameSize
}

// Reader iterates over the frames of a datagram in place, or hands out its
// fragment: it copies nothing and allocates nothing. The zero value holds
// no frames. A Reader is not safe for concurrent use.
type Reader struct {
	rest    []byte // frame headers and frames not yet returned, validated
	fhs     int    // frame header length in rest: FrameHeaderSize, +GSOSize with FlagGSO
	sender  frame.PeerName
	flags   byte
	hasFrag bool
	frag    Fragment
}

// Reset checks the whole datagram dgram and, if it is valid, makes r
// iterate over its frames or hold its fragment; otherwise it empties r and
// returns a *DecodeError, which Is transport.ErrMalformed. r keeps a
// reference to dgram: the frames that Next returns and the fragment's Data
// alias it.
func (r *Reader) Reset(dgram []byte) error {
	if reason, off, val := r.reset(dgram); reason != dropNone {
		return &DecodeError{Reason: reason, Offset: off, Value: val, Size: len(dgram)}
	}
	return nil
}

// reset is Reset without allocating an error: it returns the reason, the
// offset and the offending value.
func (r *Reader) reset(d []byte) (reason DropReason, off, val int) {
	r.rest, r.hasFrag, r.frag.Data = nil, false, nil
	switch {
	case len(d) < HeaderSize:
		return DropShort, 0, len(d)
	case d[0] != Version:
		return DropVersion, 0, int(d[0])
	case d[1]&^knownFlags != 0:
		return DropFlags, 1, int(d[1])
	case d[1]&FlagFragment != 0:
		return r.resetFragment(d)
	case len(d) == HeaderSize:
		return DropNoFrames, HeaderSize, 0
	}
	fhs := frameHeaderLen(d[1]&FlagGSO != 0)
	for off = HeaderSize; off < len(d); {
		if len(d)-off < fhs {
			return DropFrameHeader, off, len(d) - off
		}
		n := int(binary.BigEndian.Uint16(d[off+12:]))
		if !validFrameSize(n) {
			return DropFrameLength, off, n
		}
		if n > len(d)-off-fhs {
			return DropTruncated, off, n
		}
		off += fhs + n
	}
	r.sender, r.flags, r.fhs = frame.PeerNameFrom(d[2:]), d[1], fhs
	r.rest = d[HeaderSize:]
	return dropNone, 0, 0
}

// resetFragment is reset for a FlagFragment datagram.
func (r *Reader) resetFragment(d []byte) (reason DropReason, off, val int) {
	hl := HeaderSize + FragmentHeaderSize
	if d[1]&FlagGSO != 0 {
		hl += GSOSize
	}
	if len(d) <= hl { // a fragment carries at least one byte
		return DropFragmentHeader, HeaderSize, len(d) - HeaderSize
	}
	h := d[HeaderSize:]
	fh := fragment.Get(h[12:])
	data := d[hl:]
	switch {
	case !fragment.ValidTotal(fh.Total):
		return DropFragmentRange, HeaderSize + 20, int(min(fh.Total, 1<<31-1))
	case !fh.Check(len(data)):
		return DropFragmentRange, HeaderSize + 16, int(min(fh.Offset, 1<<31-1))
	}
	r.sender, r.flags = frame.PeerNameFrom(d[2:]), d[1]
	r.frag = Fragment{
		Meta:   frame.Meta{Src: frame.PeerNameFrom(h[0:]), Dst: frame.PeerNameFrom(h[6:]), Via: r.sender},
		ID:     fh.ID,
		Offset: int(fh.Offset),
		Total:  int(fh.Total),
		Data:   data[:len(data):len(data)],
	}
	if d[1]&FlagGSO != 0 {
		r.frag.Meta.GSO = frame.GSOFromWire(h[FragmentHeaderSize:])
	}
	r.hasFrag = true
	return dropNone, 0, 0
}

// Sender returns the sender name of the datagram last passed to Reset.
func (r *Reader) Sender() frame.PeerName { return r.sender }

// Flags returns the flags byte of the datagram last passed to Reset, if it
// was valid.
func (r *Reader) Flags() byte { return r.flags }

// Fragment returns the fragment of the datagram last passed to Reset, and
// reports whether it was a valid fragment datagram.
func (r *Reader) Fragment() (f Fragment, ok bool) { return r.frag, r.hasFrag }

// More reports whether Next has frames left to return.
func (r *Reader) More() bool { return len(r.rest) > 0 }

// Next returns the next frame and its Meta (Src, Dst and GSO from the frame
// header, Via the datagram's sender), or ok == false when there are no
// more. A fragment datagram has no frames.
func (r *Reader) Next() (meta frame.Meta, fr []byte, ok bool) {
	if len(r.rest) == 0 {
		return frame.Meta{}, nil, false
	}
	h := r.rest[:r.fhs]
	n := int(binary.BigEndian.Uint16(h[12:]))
	meta = frame.Meta{Src: frame.PeerNameFrom(h[0:]), Dst: frame.PeerNameFrom(h[6:]), Via: r.sender}
	if r.fhs > FrameHeaderSize {
		meta.GSO = frame.GSOFromWire(h[FrameHeaderSize:])
	}
	fr = r.rest[r.fhs : r.fhs+n : r.fhs+n]
	r.rest = r.rest[r.fhs+n:]
	return meta, fr, true
}

// Decode checks the whole datagram dgram, then calls fn for each frame in
// order. If dgram is malformed it calls fn for no frame and returns a
// *DecodeError, which Is transport.ErrMalformed. A valid fragment datagram
// holds no whole frame: Decode calls fn for none and returns nil (read it
// with a Reader). The frame passed to fn aliases dgram.
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
	DropShort          DropReason = iota // shorter than the header
	DropVersion                          // version is not 1
	DropFlags                            // unknown flag bits
	DropNoFrames                         // a header and no frame
	DropFrameHeader                      // a truncated frame header at the end
	DropFrameLength                      // a frame length out of [14, frame.MaxFrameSize]
	DropTruncated                        // a frame length past the end of the datagram
	DropOversize                         // larger than MaxDatagramSize (or cut by the socket)
	DropFragmentHeader                   // a fragment datagram too short for its headers and one byte
	DropFragmentRange                    // a fragment's total out of [14, frame.MaxSuperFrameSize], or its bytes past it
	DropPlaintext                        // a plaintext datagram to a Sleeve with Config.Encrypt
	DropNoKey                            // an encrypted datagram from a sender with no receive key (SetKeys)
	DropAuth                             // an encrypted datagram that failed authentication: bad tag, wrong key, tampered or truncated
	DropReplay                           // an authentic datagram whose counter was seen already or is older than the replay window
	NumDropReasons

	dropNone DropReason = 255
)

var dropNames = [NumDropReasons]string{"short", "version", "flags", "no-frames", "frame-header",
	"frame-length", "truncated", "oversize", "fragment-header", "fragment-range",
	"plaintext", "no-key", "auth", "replay"}

// String returns a short name for r, usable as a metric label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropNames[r]
	}
	return fmt.Sprintf("DropReason(%d)", uint8(r))
}

// DecodeError describes a malformed datagram, or (for the DropPlaintext,
// DropNoKey, DropAuth and DropReplay reasons, which only a Sleeve's
// receive path reports, in its log) one refused by encryption. It Is
// transport.ErrMalformed.
type DecodeError struct {
	Reason DropReason
	Offset int // where in the datagram the problem is
	// Value is the offending version, flags, length, offset or total; the
	// sender's PeerName for DropNoKey, the counter for DropReplay.
	Value int
	Size  int // length of the datagram
}

func (e *DecodeError) Error() string {
	var s string
	switch e.Reason {
	case DropShort:
		s = fmt.Sprintf("%d bytes is shorter than the %d-byte header", e.Size, HeaderSize)
	case DropVersion:
		s = fmt.Sprintf("unknown version %d (want %d)", e.Value, Version)
	case DropFlags:
		s = fmt.Sprintf("flags 0x%02x has unknown bits (known: 0x%02x)", e.Value, knownFlags)
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
	case DropFragmentHeader:
		s = fmt.Sprintf("fragment datagram of %d bytes: headers truncated or no data", e.Size)
	case DropFragmentRange:
		s = fmt.Sprintf("fragment: value %d at offset %d out of range (total in [%d, %d], data within it)",
			e.Value, e.Offset, frame.EthernetHeaderSize, frame.MaxSuperFrameSize)
	case DropPlaintext:
		return "sleeve: dropping a plaintext datagram: encryption is required"
	case DropNoKey:
		return fmt.Sprintf("sleeve: encrypted datagram from %v, for which there is no key", frame.PeerName(e.Value))
	case DropAuth:
		return fmt.Sprintf("sleeve: encrypted datagram of %d bytes failed authentication", e.Size)
	case DropReplay:
		return fmt.Sprintf("sleeve: replayed or too old encrypted datagram (counter %d)", uint64(e.Value))
	default:
		s = e.Reason.String()
	}
	return "sleeve: malformed datagram: " + s
}

// Unwrap returns transport.ErrMalformed.
func (e *DecodeError) Unwrap() error { return transport.ErrMalformed }
