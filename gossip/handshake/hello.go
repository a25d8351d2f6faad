package handshake

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"

	"github.com/weave-switch/weave-switch/frame"
)

// Hello is what a router tells its peer about itself in the handshake.
// Conn.Remote returns the peer's.
type Hello struct {
	// Name, Nickname, UID and Incarnation are the peer's Config fields.
	Name        frame.PeerName
	Nickname    string
	UID         uint64
	Incarnation uint64
	// Caps are the peer's capabilities (Config.Caps); never nil in a
	// Hello returned by Conn.Remote. Treat as read-only.
	Caps map[string]string
	// Version is the negotiated protocol version (not on the wire).
	Version uint16
	// Encrypted reports whether the connection is encrypted and
	// authenticated with the shared password (not on the wire).
	Encrypted bool
}

// helloFixedSize is the size of the fixed part of an encoded Hello.
const helloFixedSize = frame.PeerNameSize + 8 + 8 + 1 + 2

// append encodes the wire fields of h (version 1):
//
//	hello := name(6) | uid u64 | incarnation u64 | nickLen u8 | nickname
//	         | nCaps u16 | nCaps × { keyLen u8 | key | valLen u16 | value }
//
// Integers are big endian. Caps are sorted by key, so the encoding is
// canonical: decode then append gives back the same bytes. It returns an
// error, and appends nothing, if h breaks a limit.
func (h Hello) append(b []byte) ([]byte, error) {
	if err := h.check(); err != nil {
		return b, err
	}
	start := len(b)
	b = slices.Grow(b, helloFixedSize+len(h.Nickname))
	b = b[:start+frame.PeerNameSize]
	h.Name.Put(b[start:])
	b = binary.BigEndian.AppendUint64(b, h.UID)
	b = binary.BigEndian.AppendUint64(b, h.Incarnation)
	b = append(b, byte(len(h.Nickname)))
	b = append(b, h.Nickname...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.Caps)))
	for _, k := range slices.Sorted(maps.Keys(h.Caps)) {
		v := h.Caps[k]
		b = append(b, byte(len(k)))
		b = append(b, k...)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	if len(b)-start > MaxHelloSize {
		return b[:start], fmt.Errorf("%w: hello is %d bytes (too many capabilities), max %d", ErrTooBig, len(b)-start, MaxHelloSize)
	}
	return b, nil
}

// check reports the first field of h that cannot be encoded.
func (h Hello) check() error {
	switch {
	case h.Name == frame.UnknownPeer || h.Name > 1<<48-1:
		return fmt.Errorf("invalid peer name %#x: must be non-zero and fit in 48 bits", uint64(h.Name))
	case h.UID == 0:
		return fmt.Errorf("UID must be non-zero (random per process start)")
	case len(h.Nickname) > MaxNicknameLen || !utf8.ValidString(h.Nickname):
		return fmt.Errorf("nickname %q: must be at most %d bytes of UTF-8", h.Nickname, MaxNicknameLen)
	case len(h.Caps) > 0xffff:
		return fmt.Errorf("%d capabilities, max %d", len(h.Caps), 0xffff)
	}
	for k, v := range h.Caps {
		if len(k) == 0 || len(k) > MaxCapKeyLen || !utf8.ValidString(k) {
			return fmt.Errorf("capability key %q: must be 1..%d bytes of UTF-8", k, MaxCapKeyLen)
		}
		if len(v) > MaxCapValueLen {
			return fmt.Errorf("capability %q: value of %d bytes, max %d", k, len(v), MaxCapValueLen)
		}
	}
	return nil
}

// decodeHello parses an encoded Hello (Version and Encrypted are left
// zero). It accepts exactly the encodings append produces: every error
// wraps ErrProtocol (or ErrTooBig) and says what is wrong.
func decodeHello(b []byte) (Hello, error) {
	if len(b) > MaxHelloSize {
		return Hello{}, fmt.Errorf("%w: hello is %d bytes, max %d", ErrTooBig, len(b), MaxHelloSize)
	}
	d := decoder{b: b}
	var h Hello
	h.Name = frame.PeerNameFrom(d.bytes(frame.PeerNameSize))
	h.UID = d.uint64()
	h.Incarnation = d.uint64()
	h.Nickname = string(d.bytes(int(d.uint8())))
	n := int(d.uint16())
	if d.short {
		return Hello{}, fmt.Errorf("%w: truncated hello", ErrProtocol)
	}
	h.Caps = make(map[string]string, min(n, len(d.b)/3)) // each cap takes >= 4 bytes
	prev := ""
	for i := range n {
		k := string(d.bytes(int(d.uint8())))
		v := string(d.bytes(int(d.uint16())))
		if d.short {
			return Hello{}, fmt.Errorf("%w: truncated hello (capability %d of %d)", ErrProtocol, i+1, n)
		}
		if i > 0 && k <= prev {
			return Hello{}, fmt.Errorf("%w: hello capabilities not sorted or duplicated at %q", ErrProtocol, k)
		}
		prev = k
		h.Caps[k] = v
	}
	if len(d.b) != 0 {
		return Hello{}, fmt.Errorf("%w: %d trailing bytes after hello", ErrProtocol, len(d.b))
	}
	if err := h.check(); err != nil {
		return Hello{}, fmt.Errorf("%w: invalid hello: %w", ErrProtocol, err)
	}
	return h, nil
}

var zeros [0xffff]byte

// decoder reads big-endian fields from b; once a read runs past the end,
// short is set and every later read returns zeros.
type decoder struct {
	b     []byte
	short bool
}

func (d *decoder) bytes(n int) []byte {
	if d.short || len(d.b) < n {
		d.short = true
		return zeros[:n] // n <= 65535; read-only
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uint8() uint8   { return d.bytes(1)[0] }
func (d *decoder) uint16() uint16 { return binary.BigEndian.Uint16(d.bytes(2)) }
func (d *decoder) uint64() uint64 { return binary.BigEndian.Uint64(d.bytes(8)) }
