package topology

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// WireVersion is the first byte of every encoded Entry and digest.
const WireVersion = 1

// MaxDigestItems bounds the number of items DecodeDigest accepts.
const MaxDigestItems = 1 << 16

// MaxEntriesPerMessage bounds the number of back-to-back entries
// DecodeEntries and MergeEncoded accept in one message; EncodeEntries
// splits longer lists.
const MaxEntriesPerMessage = 1024

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("topology: malformed encoding")

// Encoded Entry (integers big endian; uv = canonical unsigned varint;
// str = uv length ≤ 255, then the bytes):
//
//	 0        1                 7                15               23
//	+--------+-----------------+----------------+----------------+------------+
//	| ver=1  | name (6)        | uid (8)        | incarnation (8)| version uv |
//	+--------+-----------------+----------------+----------------+------------+
//	| nickname str | nconns uv (≤4096) | conn... | ncaps uv (≤64) | cap...     |
//	+--------------+-------------------+---------+----------------+------------+
//	conn: peer (6) | flags (1: bit0 outbound, bit1 established) | addr str
//	cap:  key str | value str          (keys in ascending byte order)
//
// Conns are in ascending peer order, so an Entry has exactly one encoding.

const (
	flagOutbound    = 1 << 0
	flagEstablished = 1 << 1
	minConnSize     = frame.PeerNameSize + 1 + 1
	minCapSize      = 2
	minDigestItem   = frame.PeerNameSize + 8 + 1
)

// AppendEntry appends the encoding of e to b and returns the extended
// buffer. The encoding is deterministic. If e is not valid (see Validate),
// the result is something DecodeEntry rejects.
func AppendEntry(b []byte, e Entry) []byte {
	b = append(b, WireVersion)
	b = appendName(b, e.Name)
	b = binary.BigEndian.AppendUint64(b, e.UID)
	b = binary.BigEndian.AppendUint64(b, e.Incarnation)
	b = binary.AppendUvarint(b, e.Version)
	b = appendString(b, e.Nickname)
	b = binary.AppendUvarint(b, uint64(len(e.Conns)))
	for _, c := range e.Conns {
		b = appendName(b, c.Peer)
		var f byte
		if c.Outbound {
			f |= flagOutbound
		}
		if c.Established {
			f |= flagEstablished
		}
		b = append(b, f)
		b = appendString(b, c.Addr)
	}
	b = binary.AppendUvarint(b, uint64(len(e.Caps)))
	var arr [16]string
	keys := arr[:0]
	for k := range e.Caps {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, e.Caps[k])
	}
	return b
}

// DecodeEntry decodes one Entry from the front of b and returns it with
// the number of bytes consumed. The Entry does not alias b. Errors wrap
// ErrMalformed; a nil error means the Entry is valid and AppendEntry
// reproduces b[:n] exactly.
func DecodeEntry(b []byte) (Entry, int, error) {
	// Pass 1 checks and measures without allocating; pass 2 builds the
	// Entry with every string a substring of one copy of the input.
	var e Entry
	n, err := checkEntry(b, &e)
	if err != nil {
		return Entry{}, 0, err
	}
	return buildEntry(b[:n]), n, nil
}

// buildEntry is pass 2 of DecodeEntry, for b exactly one valid encoding.
func buildEntry(b []byte) Entry {
	var e Entry
	d := decoder{b: b, str: string(b)}
	d.entry(&e)
	return e
}

// checkEntry is pass 1 of DecodeEntry: it validates the encoded entry at
// the front of b without allocating, fills h's Name, UID, Incarnation and
// Version, and returns the encoded length.
func checkEntry(b []byte, h *Entry) (int, error) {
	d := decoder{b: b}
	d.entry(h)
	return d.off, d.err
}

// EncodeEntries encodes es back to back (AppendEntry) into messages of
// at most MaxEntriesPerMessage entries and maxBytes bytes each; an entry
// longer than maxBytes by itself goes alone.
func EncodeEntries(es []Entry, maxBytes int) [][]byte {
	var msgs [][]byte
	var b []byte
	count := 0
	for _, e := range es {
		start := len(b)
		b = AppendEntry(b, e)
		if count > 0 && (count == MaxEntriesPerMessage || len(b) > maxBytes) {
			next := append([]byte(nil), b[start:]...)
			msgs = append(msgs, b[:start:start])
			b, count = next, 0
		}
		count++
	}
	if count > 0 {
		msgs = append(msgs, b)
	}
	return msgs
}

// errTooManyEntries is the error for a message past MaxEntriesPerMessage.
var errTooManyEntries = fmt.Errorf("%w: more than %d entries in one message", ErrMalformed, MaxEntriesPerMessage)

// DecodeEntries decodes back-to-back encoded entries filling all of b, at
// most MaxEntriesPerMessage.
func DecodeEntries(b []byte) ([]Entry, error) {
	var es []Entry
	for off := 0; off < len(b); {
		if len(es) == MaxEntriesPerMessage {
			return nil, errTooManyEntries
		}
		e, n, err := DecodeEntry(b[off:])
		if err != nil {
			return nil, fmt.Errorf("entry %d at offset %d: %w", len(es), off, err)
		}
		es = append(es, e)
		off += n
	}
	return es, nil
}

// Encoded digest: ver=1 | count uv (≤ MaxDigestItems) | item..., where an
// item is name (6) | incarnation (8) | version uv, in ascending name order.

// AppendDigest appends the encoding of items (which must be in strictly
// ascending Name order, as Digest returns them) to b.
func AppendDigest(b []byte, items []DigestItem) []byte {
	b = append(b, WireVersion)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = appendName(b, it.Name)
		b = binary.BigEndian.AppendUint64(b, it.Incarnation)
		b = binary.AppendUvarint(b, it.Version)
	}
	return b
}

// DecodeDigest decodes a digest from the front of b and returns it with
// the number of bytes consumed. Errors wrap ErrMalformed.
func DecodeDigest(b []byte) ([]DigestItem, int, error) {
	d := decoder{b: b}
	d.version()
	n := d.count("digest item count", MaxDigestItems, minDigestItem)
	var items []DigestItem
	if d.err == nil && n > 0 {
		items = make([]DigestItem, 0, n)
	}
	for i := 0; i < n && d.err == nil; i++ {
		it := DigestItem{Name: d.name("digest item name")}
		it.Incarnation = d.u64("digest item incarnation")
		it.Version = d.uvarint("digest item version")
		if d.err == nil && i > 0 && it.Name <= items[i-1].Name {
			d.fail("digest item %d: names not in ascending order", i)
		}
		items = append(items, it)
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	return items, d.off, nil
}

func appendName(b []byte, n frame.PeerName) []byte {
	if n > maxPeerName {
		n = frame.UnknownPeer // not encodable: make it invalid on the wire
	}
	var a [frame.PeerNameSize]byte
	n.Put(a[:])
	return append(b, a[:]...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
