package topology

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/weave-switch/weave-switch/frame"
)

// decoder reads the wire format. The first error sticks; later reads
// return zero values. When str is set (the second pass of DecodeEntry), it
// is a copy of b and strings are cut from it instead of allocated.
type decoder struct {
	b   []byte
	str string
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

func (d *decoder) need(n int, what string) bool {
	if d.err != nil {
		return false
	}
	if left := len(d.b) - d.off; left < n {
		d.fail("truncated %s: need %d bytes, have %d", what, n, left)
		return false
	}
	return true
}

func (d *decoder) version() {
	if !d.need(1, "encoding version") {
		return
	}
	if v := d.b[d.off]; v != WireVersion {
		d.fail("unsupported encoding version %d (want %d)", v, WireVersion)
		return
	}
	d.off++
}

func (d *decoder) u8(what string) byte {
	if !d.need(1, what) {
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) u64(what string) uint64 {
	if !d.need(8, what) {
		return 0
	}
	d.off += 8
	return binary.BigEndian.Uint64(d.b[d.off-8:])
}

// name reads a PeerName and refuses the zero name.
func (d *decoder) name(what string) frame.PeerName {
	if !d.need(frame.PeerNameSize, what) {
		return 0
	}
	n := frame.PeerNameFrom(d.b[d.off:])
	d.off += frame.PeerNameSize
	if n == frame.UnknownPeer {
		d.fail("%s is the zero peer name", what)
	}
	return n
}

func (d *decoder) uvarint(what string) uint64 { return d.uvarintOf(what, "") }

// uvarintOf reads a canonical uvarint; what+suffix names it in errors
// (concatenated only then: this runs per field).
func (d *decoder) uvarintOf(what, suffix string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	switch {
	case n == 0:
		d.fail("truncated %s%s", what, suffix)
		return 0
	case n < 0:
		d.fail("%s%s overflows 64 bits", what, suffix)
		return 0
	case n != uvarintLen(v):
		d.fail("%s%s is a non-minimal varint", what, suffix)
		return 0
	}
	d.off += n
	return v
}

// count reads an element count, bounded by limit and by what the rest of
// the input could hold at minSize bytes per element.
func (d *decoder) count(what string, limit, minSize int) int {
	v := d.uvarint(what)
	if d.err != nil {
		return 0
	}
	if v > uint64(limit) {
		d.fail("%s %d exceeds %d", what, v, limit)
		return 0
	}
	if left := len(d.b) - d.off; v*uint64(minSize) > uint64(left) {
		d.fail("%s %d exceeds what %d remaining bytes can hold", what, v, left)
		return 0
	}
	return int(v)
}

// span reads a length-prefixed string and returns its bytes in b.
func (d *decoder) span(what string) []byte {
	n := d.uvarintOf(what, " length")
	if d.err != nil {
		return nil
	}
	if n > MaxStringLen {
		d.fail("%s of %d bytes exceeds %d", what, n, MaxStringLen)
		return nil
	}
	if !d.need(int(n), what) {
		return nil
	}
	d.off += int(n)
	return d.b[d.off-int(n) : d.off]
}

// string reads a length-prefixed string; it is "" in pass 1.
func (d *decoder) string(what string) string {
	return d.substr(d.span(what))
}

// entry decodes an Entry into e. In pass 1 (d.str == "") it only checks
// the input and fills the scalar fields (Name, UID, Incarnation, Version).
func (d *decoder) entry(e *Entry) {
	build := d.str != ""
	d.version()
	name := d.name("name")
	*e = Entry{Name: name, UID: d.u64("uid"), Incarnation: d.u64("incarnation"), Version: d.uvarint("entry version")}
	e.Nickname = d.string("nickname")
	nc := d.count("connection count", MaxConns, minConnSize)
	if build && nc > 0 {
		e.Conns = make([]Conn, 0, nc)
	}
	var prev frame.PeerName
	for i := 0; i < nc && d.err == nil; i++ {
		p := d.name("connection peer")
		f := d.u8("connection flags")
		addr := d.string("connection address")
		switch {
		case d.err != nil:
		case p == name:
			d.fail("connection %d: connection to itself", i)
		case p <= prev:
			d.fail("connection %d: peers not in ascending order", i)
		case f&^(flagOutbound|flagEstablished) != 0:
			d.fail("connection %d: unknown flags %#x", i, f)
		}
		prev = p
		if build {
			e.Conns = append(e.Conns, Conn{Peer: p, Addr: addr, Outbound: f&flagOutbound != 0, Established: f&flagEstablished != 0})
		}
	}
	ncap := d.count("capability count", MaxCaps, minCapSize)
	if build && ncap > 0 {
		e.Caps = make(map[string]string, ncap)
	}
	var prevKey []byte
	for i := 0; i < ncap && d.err == nil; i++ {
		key := d.span("capability key")
		k := d.substr(key) // before the value moves d.off
		v := d.string("capability value")
		if d.err == nil && i > 0 && bytes.Compare(key, prevKey) <= 0 {
			d.fail("capability %d: keys not in ascending order", i)
		}
		prevKey = key
		if build {
			e.Caps[k] = v
		}
	}
}

// substr returns the string for b, the span just read, cut from d.str
// without allocating; "" in pass 1.
func (d *decoder) substr(b []byte) string {
	if d.str == "" || d.err != nil {
		return ""
	}
	return d.str[d.off-len(b) : d.off]
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
