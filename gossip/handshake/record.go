package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// kind is the first byte of a record header.
type kind uint8

// Record kinds. Hello and message records are sealed (encrypted) once the
// Noise handshake has produced transport keys; Noise and alert records are
// always plaintext.
const (
	kindNoise kind = 1 // a Noise handshake message, one record
	kindAlert kind = 2 // why the sender aborts the handshake, one record
	kindHello kind = 3 // (a fragment of) the sender's Hello
	kindMsg   kind = 4 // (a fragment of) a message: type byte, then payload
)

func (k kind) String() string {
	switch k {
	case kindNoise:
		return "noise"
	case kindAlert:
		return "alert"
	case kindHello:
		return "hello"
	case kindMsg:
		return "message"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// fragmented reports whether records of kind k may carry flagMore.
func (k kind) fragmented() bool { return k == kindHello || k == kindMsg }

// Record layout limits.
const (
	headerSize = 4
	tagSize    = 16    // Poly1305 tag of a sealed record
	maxBody    = 65535 // Noise's maximum message size
	// maxFragment is the plaintext of a hello or message record, in both
	// modes, so that plain and encrypted connections fragment alike.
	maxFragment = maxBody - tagSize
	// flagMore: the message continues in the next record.
	flagMore uint8 = 1
)

// Record buffers. A connection's reader keeps a buffer of at most
// smallRecord bytes for everyday records, its writer one of writerKeeps
// bytes (pings, summaries, sums) and borrows one of smallRecord bytes from
// smallRecords for a record up to that size; each borrows a buffer for a
// whole record from bigRecords, shared by every connection of the
// process, for a bigger one: the writer gives what it borrowed back once
// the record is written, the reader at its next read (the body it
// returned is valid until then). An idle connection holds no big buffer,
// however big the messages it carried; the free list keeps at most
// maxFreeRecords.
const (
	smallRecord    = 4 << 10
	writerKeeps    = 512
	maxFreeRecords = 8
)

var smallRecords = sync.Pool{New: func() any { return new([smallRecord]byte) }}

type recordBuf = [headerSize + maxBody]byte

var bigRecords recordPool

// recordPool is a bounded free list of record buffers, safe for
// concurrent use.
type recordPool struct {
	mu   sync.Mutex
	free []*recordBuf
}

func (p *recordPool) get() *recordBuf {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		return b
	}
	return new(recordBuf)
}

func (p *recordPool) put(b *recordBuf) {
	p.mu.Lock()
	if len(p.free) < maxFreeRecords {
		p.free = append(p.free, b)
	}
	p.mu.Unlock()
}

func fragSize(frag int) int {
	if frag == 0 {
		return maxFragment
	}
	return frag
}

// header is a decoded record header:
//
//	record := kind u8 | flags u8 | length u16 | body (length bytes)
//
// A sealed body is ChaCha20-Poly1305(plaintext) with the 4 header bytes as
// additional data, so the kind, flags and length are authenticated too.
type header struct {
	kind   kind
	flags  uint8
	length int
}

// recordReader reads records from r. open is nil in plaintext mode.
// It is used by one goroutine at a time.
type recordReader struct {
	r       io.Reader
	open    *cipherState
	frag    int  // fragment size if not 0 (fuzz tests shrink it), else maxFragment
	alerts  bool // an alert record ends the handshake (else it is a protocol error)
	hdr     [headerSize]byte
	scratch []byte     // a record body of up to smallRecord bytes
	big     *recordBuf // borrowed for a bigger body, until the next read
}

func (rr *recordReader) sealed(k kind) bool { return rr.open != nil && k.fragmented() }

// readHeader reads and checks one record header. At a record boundary a
// clean end of stream is io.EOF.
func (rr *recordReader) readHeader() (header, error) {
	if rr.big != nil {
		bigRecords.put(rr.big)
		rr.big = nil
	}
	if n, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
		if n > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return header{}, fmt.Errorf("%w: truncated record header", err)
		}
		return header{}, err
	}
	h := header{kind: kind(rr.hdr[0]), flags: rr.hdr[1], length: int(binary.BigEndian.Uint16(rr.hdr[2:]))}
	frag := fragSize(rr.frag)
	lo, hi := 1, frag
	switch {
	case h.kind == kindNoise:
		hi = maxBody
	case h.kind == kindAlert:
		hi = 1 + maxAlertText
	case !h.kind.fragmented():
		return header{}, fmt.Errorf("%w: unknown record kind %d", ErrProtocol, h.kind)
	case rr.sealed(h.kind):
		lo, hi = 1+tagSize, frag+tagSize
	}
	if h.flags&^flagMore != 0 || (h.flags != 0 && !h.kind.fragmented()) {
		return header{}, fmt.Errorf("%w: invalid flags %#x in %v record", ErrProtocol, h.flags, h.kind)
	}
	if h.length < lo || h.length > hi {
		return header{}, fmt.Errorf("%w: %v record of %d bytes, want %d..%d", ErrProtocol, h.kind, h.length, lo, hi)
	}
	return h, nil
}

// plainLen is the plaintext size of the body h announces.
func (rr *recordReader) plainLen(h header) int {
	if rr.sealed(h.kind) {
		return h.length - tagSize
	}
	return h.length
}

// readBody reads the body h announces and, for a sealed record, decrypts
// it. The result aliases rr.scratch or rr.big: valid until the next read.
func (rr *recordReader) readBody(h header) ([]byte, error) {
	var body []byte
	switch {
	case h.length > smallRecord:
		rr.big = bigRecords.get()
		body = rr.big[:h.length] // h.length <= maxBody
	case cap(rr.scratch) < h.length:
		rr.scratch = make([]byte, 0, max(h.length, 512))
		fallthrough
	default:
		body = rr.scratch[:h.length]
	}
	if _, err := io.ReadFull(rr.r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: truncated %v record", err, h.kind)
	}
	if !rr.sealed(h.kind) {
		return body, nil
	}
	plain, err := rr.open.open(body[:0], body, rr.hdr[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v record failed to decrypt (modified, replayed, reordered or dropped)", ErrAuth, h.kind)
	}
	return plain, nil
}

// readRecord reads one unfragmented record, which must be of kind want.
// An alert instead (while rr.alerts) is returned as an *alertError.
func (rr *recordReader) readRecord(want kind) ([]byte, error) {
	h, err := rr.readHeader()
	if err != nil {
		return nil, err
	}
	if err := rr.expect(h, want); err != nil {
		return nil, err
	}
	return rr.readBody(h)
}

// expect checks that h is a record of kind want, or reads the alert.
func (rr *recordReader) expect(h header, want kind) error {
	if h.kind == want {
		return nil
	}
	if h.kind == kindAlert && rr.alerts {
		body, err := rr.readBody(h)
		if err != nil {
			return err
		}
		a, err := decodeAlert(body)
		if err != nil {
			return err
		}
		return &alertError{a}
	}
	return fmt.Errorf("%w: unexpected %v record, want %v", ErrProtocol, h.kind, want)
}

// readMessage reads one message of kind want, at most limit bytes of
// payload, reassembling its fragments. A message that fits in one record
// is returned in rr.scratch (valid until the next read); a bigger one is
// appended to buf[:0], growing it as its records arrive. A message over
// limit is refused with ErrTooBig as soon as a record header announces
// it, before its body is read.
func (rr *recordReader) readMessage(want kind, buf []byte, limit int) (typ uint8, payload []byte, err error) {
	for first := true; ; first = false {
		h, err := rr.readHeader()
		if err != nil {
			if !first && errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: stream ended inside a fragmented %v", io.ErrUnexpectedEOF, want)
			}
			return 0, nil, err
		}
		if err := rr.expect(h, want); err != nil {
			return 0, nil, err
		}
		n, more := rr.plainLen(h), h.flags&flagMore != 0
		if frag := fragSize(rr.frag); more && n != frag {
			return 0, nil, fmt.Errorf("%w: non-final %v fragment of %d bytes, want %d", ErrProtocol, want, n, frag)
		}
		size := len(payload) + n
		if first {
			size-- // the type byte
		}
		if size > limit {
			return 0, nil, fmt.Errorf("%w: %v of more than %d bytes", ErrTooBig, want, limit)
		}
		body, err := rr.readBody(h)
		if err != nil {
			return 0, nil, err
		}
		if first {
			typ, body = body[0], body[1:]
			if !more {
				return typ, body, nil
			}
			payload = buf[:0]
		}
		payload = append(payload, body...)
		if !more {
			return typ, payload, nil
		}
	}
}

// recordWriter writes records to w. seal is nil in plaintext mode. It is
// used by one goroutine at a time.
type recordWriter struct {
	w     io.Writer
	seal  *cipherState
	frag  int                // as recordReader.frag
	buf   []byte             // a record of up to writerKeeps bytes
	small *[smallRecord]byte // borrowed for a record of up to smallRecord bytes while it is written
	big   *recordBuf         // borrowed for a bigger record while it is written
}

// writeRecord writes body as one record of kind k.
func (rw *recordWriter) writeRecord(k kind, body []byte) error {
	return rw.finish(k, 0, append(rw.start(len(body)), body...))
}

// writeMessage writes typ and payload as records of kind k: fragments of
// maxFragment bytes, all but the last flagged flagMore.
func (rw *recordWriter) writeMessage(k kind, typ uint8, payload []byte) error {
	for first := true; first || len(payload) > 0; first = false {
		room := fragSize(rw.frag)
		if first {
			room--
		}
		chunk := payload[:min(room, len(payload))]
		var rec []byte
		if first {
			rec = append(rw.start(1+len(chunk)), typ)
		} else {
			rec = rw.start(len(chunk))
		}
		payload = payload[len(chunk):]
		rec = append(rec, chunk...)
		var flags uint8
		if len(payload) > 0 {
			flags = flagMore
		}
		if err := rw.finish(k, flags, rec); err != nil {
			return err
		}
	}
	return nil
}

// start returns a buffer for a record of body plaintext bytes (rw.buf,
// or a borrowed small or big one), holding room for its header.
func (rw *recordWriter) start(body int) []byte {
	need := headerSize + body + tagSize
	switch {
	case need > smallRecord:
		rw.big = bigRecords.get()
		return rw.big[:headerSize]
	case need > writerKeeps:
		rw.small = smallRecords.Get().(*[smallRecord]byte)
		return rw.small[:headerSize]
	}
	if rw.buf == nil {
		rw.buf = make([]byte, 0, writerKeeps)
	}
	return rw.buf[:headerSize]
}

// finish fills in the header of rec (header space plus plaintext body),
// seals the body in place if needed, and writes the record.
func (rw *recordWriter) finish(k kind, flags uint8, rec []byte) error {
	sealed := rw.seal != nil && k.fragmented()
	n := len(rec) - headerSize
	if sealed {
		n += tagSize
		rec = slices.Grow(rec, tagSize)
	}
	rec[0], rec[1] = byte(k), flags
	binary.BigEndian.PutUint16(rec[2:], uint16(n))
	if sealed {
		var err error
		if rec, err = rw.seal.seal(rec[:headerSize], rec[headerSize:], rec[:headerSize]); err != nil {
			return err
		}
	}
	_, err := rw.w.Write(rec)
	switch {
	case rw.big != nil:
		bigRecords.put(rw.big)
		rw.big = nil
	case rw.small != nil:
		smallRecords.Put(rw.small)
		rw.small = nil
	}
	return err
}
