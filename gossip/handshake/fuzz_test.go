package handshake

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// Fuzz targets for every decoder. Each checks invariants, not just the
// absence of panics: a decoder accepts exactly the canonical encodings
// (err == nil ⇔ valid), and what it accepts re-encodes to the same bytes.

func FuzzPreamble(f *testing.F) {
	f.Add(validPreamble(false))
	f.Add(validPreamble(true))
	f.Add(preamble{min: 1, max: 9, flags: 0xfe}.append(nil)) // reserved flags: kept, ignored
	f.Add(validPreamble(false)[:10])                         // truncated
	f.Add(append(validPreamble(false), 0))                   // trailing byte
	f.Add(preamble{min: 0, max: 1}.append(nil))              // version 0
	f.Add(preamble{min: 2, max: 1}.append(nil))              // inverted range
	f.Add([]byte("weave\x01\x02"))                           // Weave Net
	f.Add([]byte("weave-switcX\x00\x00\x01\x00\x01\x00"))    // bad magic
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePreamble(b)
		valid := len(b) == preambleSize && string(b[:len(magic)]) == magic &&
			be16(b[len(magic):]) >= 1 && be16(b[len(magic):]) <= be16(b[len(magic)+2:])
		if (err == nil) != valid {
			t.Fatalf("decodePreamble(%q) = %v, valid = %v", b, err, valid)
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v does not wrap ErrProtocol", err)
			}
			return
		}
		if !bytes.Equal(p.append(nil), b) {
			t.Fatalf("round trip: %q -> %+v -> %q", b, p, p.append(nil))
		}
		// The streaming reader agrees with the decoder.
		if q, err := readPreamble(bytes.NewReader(b)); err != nil || q != p {
			t.Fatalf("readPreamble = %+v, %v; decodePreamble = %+v", q, err, p)
		}
	})
}

func be16(b []byte) uint16 { return uint16(b[0])<<8 | uint16(b[1]) }

func FuzzHello(f *testing.F) {
	for _, cfg := range []*Config{ptr(testConfig(1, "")), {Name: 1, UID: 1}} {
		b, err := cfg.hello().append(nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)-1])                 // truncated
		f.Add(append(b[:len(b):len(b)], 0)) // trailing byte
	}
	f.Add(make([]byte, helloFixedSize)) // zero name and UID
	// Two caps in the wrong order ("b" before "a").
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0, 2, 1, 'b', 0, 0, 1, 'a', 0, 0})
	// A cap count far larger than the input (must not preallocate it).
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xfe, 0, 0}) // invalid UTF-8 nickname
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHello(b)
		if err != nil {
			if !errors.Is(err, ErrProtocol) && !errors.Is(err, ErrTooBig) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if err := h.check(); err != nil {
			t.Fatalf("decoded an invalid hello: %v", err)
		}
		enc, err := h.append(nil)
		if err != nil || !bytes.Equal(enc, b) {
			t.Fatalf("round trip: %x -> %+v -> %x, %v", b, h, enc, err)
		}
	})
}

func FuzzAlert(f *testing.F) {
	f.Add(alert{code: alertAuth, text: "cannot authenticate"}.append(nil))
	f.Add([]byte{})                        // empty
	f.Add(make([]byte, 2+maxAlertText))    // too long
	f.Add([]byte{7, 0xff, 0x1b, '[', 'm'}) // unknown code, control characters
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAlert(b)
		if (err == nil) != (len(b) >= 1 && len(b) <= 1+maxAlertText) {
			t.Fatalf("decodeAlert(%q): %v", b, err)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(a.append(nil), b) {
			t.Fatalf("round trip: %q -> %q", b, a.append(nil))
		}
		msg := (&alertError{a}).Error()
		for _, r := range msg {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", msg)
			}
		}
	})
}

// fuzzKey is the record key of FuzzRecords' encrypted mode.
var fuzzKey = [32]byte{1, 2, 3}

// fuzzFrag is the fragment size in FuzzRecords: small, so that the fuzzer
// reaches fragmentation with small inputs (65 KiB inputs make it crawl).
const fuzzFrag = 8

// encodeMessages writes msgs as a record stream, sealed if sealed.
func encodeMessages(msgs []fuzzMsg, sealed bool) []byte {
	var out bytes.Buffer
	rw := recordWriter{w: &out, frag: fuzzFrag}
	if sealed {
		rw.seal = newCipherState(fuzzKey)
	}
	for _, m := range msgs {
		if err := rw.writeMessage(kindMsg, m.typ, m.payload); err != nil {
			panic(err)
		}
	}
	return out.Bytes()
}

type fuzzMsg struct {
	typ     uint8
	payload []byte
}

// FuzzRecords decodes a record stream, plaintext or sealed, message by
// message until an error. Invariant: the messages accepted, encoded again,
// give exactly the bytes consumed, so a sealed stream decodes only as far
// as it is authentic, and garbage is never accepted.
func FuzzRecords(f *testing.F) {
	msgs := []fuzzMsg{{1, []byte("hello")}, {0, nil}, {255, payloadOf(3*fuzzFrag+2, 3)}, {7, payloadOf(fuzzFrag-1, 4)}}
	for _, sealed := range []bool{false, true} {
		valid := encodeMessages(msgs, sealed)
		f.Add(valid, sealed)
		f.Add(valid[:len(valid)-1], sealed)                                  // truncated body
		f.Add(valid[:2], sealed)                                             // truncated header
		f.Add(flip(valid, 5), sealed)                                        // modified body
		f.Add(setByte(valid, 1, flagMore), sealed)                           // more flag on a short fragment
		f.Add(setByte(valid, 0, 0x42), sealed)                               // unknown kind
		f.Add(cat(encodeMessages(msgs[:1], sealed), valid), sealed)          // replay of the first record
		f.Add([]byte{byte(kindMsg), 0, 0, 0}, sealed)                        // empty record
		f.Add([]byte{byte(kindMsg), flagMore, 0xff, 0xef}, sealed)           // announced, never sent
		f.Add(cat([]byte{byte(kindAlert), 0, 0, 2}, []byte{1, 'x'}), sealed) // alert after the handshake
	}
	f.Fuzz(fuzzRecordsBody)
}

func fuzzRecordsBody(t *testing.T, b []byte, sealed bool) {
	{
		r := bytes.NewReader(b)
		rr := recordReader{r: r, frag: fuzzFrag}
		if sealed {
			rr.open = newCipherState(fuzzKey)
		}
		var got []fuzzMsg
		consumed := 0
		for {
			typ, payload, err := rr.readMessage(kindMsg, nil, MaxMessageSize)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrProtocol) && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrTooBig) {
					t.Fatalf("error %v wraps no sentinel", err)
				}
				if errors.Is(err, io.EOF) && consumed != len(b) {
					t.Fatalf("clean EOF with %d of %d bytes consumed", consumed, len(b))
				}
				break
			}
			got = append(got, fuzzMsg{typ, bytes.Clone(payload)})
			consumed = len(b) - r.Len()
		}
		if enc := encodeMessages(got, sealed); !bytes.Equal(enc, b[:consumed]) {
			t.Fatalf("accepted %d messages that encode to %x, consumed %x", len(got), enc, b[:consumed])
		}
	}
}

// FuzzServer feeds arbitrary client bytes to Server (no password): it
// must fail with a classified error, never hang or panic, and succeed only
// on a valid preamble plus a valid hello.
func FuzzServer(f *testing.F) {
	cfg1 := testConfig(1, "")
	hello, _ := cfg1.hello().append(nil)
	var rec bytes.Buffer
	(&recordWriter{w: &rec}).writeMessage(kindHello, 0, hello)
	f.Add(cat(validPreamble(false), rec.Bytes()))
	f.Add(validPreamble(false))                                           // no hello
	f.Add(cat(validPreamble(true), rec.Bytes()))                          // password flag
	f.Add(cat(validPreamble(false), rec.Bytes()[:10]))                    // truncated hello
	f.Add(cat(validPreamble(false), []byte{byte(kindAlert), 0, 0, 1, 2})) // alert
	f.Fuzz(func(t *testing.T, b []byte) {
		conn := &scriptConn{r: bytes.NewReader(b)}
		cfg := testConfig(2, "")
		cfg.Timeout = time.Second
		c, err := Server(context.Background(), conn, cfg)
		if err != nil {
			for _, s := range []error{ErrProtocol, ErrAuth, ErrVersion, ErrPassword, ErrTooBig, ErrRefused, io.ErrUnexpectedEOF} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("unclassified error: %v", err)
		}
		if h := c.Remote(); h.check() != nil {
			t.Fatalf("accepted an invalid hello %+v", h)
		}
	})
}

// scriptConn is a net.Conn that reads from r and discards writes.
type scriptConn struct {
	r io.Reader
	net.Conn
}

func (c *scriptConn) Read(b []byte) (int, error)         { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error)        { return len(b), nil }
func (c *scriptConn) Close() error                       { return nil }
func (c *scriptConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (c *scriptConn) SetDeadline(time.Time) error        { return nil }
func (c *scriptConn) SetWriteDeadline(t time.Time) error { return nil }

func ptr[T any](v T) *T { return &v }
