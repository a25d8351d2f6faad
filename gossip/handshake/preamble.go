package handshake

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// magic opens every weave-switch control connection. It starts with
// Weave Net's "weave" so that a Weave Net router talking to us (or us to
// it) is recognised and named in the error instead of "bad magic".
const magic = "weave-switch\x00"

// preambleSize is the fixed size of the preamble, the same in every
// protocol version: it must never change.
const preambleSize = len(magic) + 2 + 2 + 1

// flagPassword in preamble.flags says the sender has a password and will
// only continue with a Noise handshake. The other bits are sent as zero
// and ignored on receipt (future versions may use them).
const flagPassword uint8 = 1 << 0

// preamble is the first thing each side sends:
//
//	preamble := magic "weave-switch\x00" (13) | min u16 | max u16 | flags u8
//
// min..max is the range of protocol versions the sender speaks (integers
// are big endian, 1 <= min <= max).
type preamble struct {
	min, max uint16
	flags    uint8
}

func (p preamble) password() bool { return p.flags&flagPassword != 0 }

func (p preamble) append(b []byte) []byte {
	b = append(b, magic...)
	b = binary.BigEndian.AppendUint16(b, p.min)
	b = binary.BigEndian.AppendUint16(b, p.max)
	return append(b, p.flags)
}

// decodePreamble parses exactly one preamble. The error wraps ErrProtocol.
func decodePreamble(b []byte) (preamble, error) {
	if len(b) != preambleSize {
		return preamble{}, fmt.Errorf("%w: preamble is %d bytes, want %d", ErrProtocol, len(b), preambleSize)
	}
	if string(b[:len(magic)]) != magic {
		return preamble{}, badMagic(b)
	}
	p := preamble{
		min:   binary.BigEndian.Uint16(b[len(magic):]),
		max:   binary.BigEndian.Uint16(b[len(magic)+2:]),
		flags: b[len(magic)+4],
	}
	if p.min == 0 || p.min > p.max {
		return preamble{}, fmt.Errorf("%w: invalid protocol version range %d..%d in preamble", ErrProtocol, p.min, p.max)
	}
	return p, nil
}

// weaveHeaderSize is the size of Weave Net's header: "weave" min max.
const weaveHeaderSize = 7

// badMagic explains why b (at least weaveHeaderSize bytes) is not a
// preamble, recognising Weave Net (mesh) routers.
func badMagic(b []byte) error {
	if len(b) >= weaveHeaderSize && bytes.HasPrefix(b, []byte("weave")) && string(b[5:7]) != "-s" {
		return fmt.Errorf("%w: peer is a Weave Net router (mesh protocol %d..%d), not weave-switch",
			ErrProtocol, b[5], b[6])
	}
	n := min(len(b), len(magic))
	return fmt.Errorf("%w: peer is not a weave-switch router (bad magic %q)", ErrProtocol, b[:n])
}

// readPreamble reads and decodes the peer's preamble. It reads the first
// weaveHeaderSize bytes on their own, so that a Weave Net router (which
// sends only those and waits) is recognised at once rather than at the
// timeout.
func readPreamble(r io.Reader) (preamble, error) {
	var buf [preambleSize]byte
	n, err := io.ReadFull(r, buf[:weaveHeaderSize])
	if err == nil {
		if string(buf[:weaveHeaderSize]) != magic[:weaveHeaderSize] {
			return preamble{}, badMagic(buf[:weaveHeaderSize])
		}
		var m int
		m, err = io.ReadFull(r, buf[weaveHeaderSize:])
		n += m
	}
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		return preamble{}, fmt.Errorf("peer closed the connection before sending its preamble: %w", io.ErrUnexpectedEOF)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		if string(buf[:min(n, len(magic))]) != magic[:min(n, len(magic))] {
			return preamble{}, badMagic(buf[:n])
		}
		return preamble{}, fmt.Errorf("%w: truncated preamble (%d of %d bytes): %w", ErrProtocol, n, preambleSize, io.ErrUnexpectedEOF)
	case err != nil:
		return preamble{}, fmt.Errorf("reading preamble: %w", err)
	}
	return decodePreamble(buf[:])
}

// negotiate picks the highest version in both ranges. The error wraps
// ErrVersion and names both ranges, from our point of view.
func negotiate(ours, theirs preamble) (uint16, error) {
	lo, hi := max(ours.min, theirs.min), min(ours.max, theirs.max)
	if lo > hi {
		return 0, fmt.Errorf("%w: peer speaks protocol %s, we speak %s",
			ErrVersion, versionRange(theirs), versionRange(ours))
	}
	return hi, nil
}

func versionRange(p preamble) string { return fmt.Sprintf("%d..%d", p.min, p.max) }
