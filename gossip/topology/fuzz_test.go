package topology

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecodeEntry checks that the decoder accepts exactly the canonical
// encodings of valid entries: err == nil ⇒ the entry is valid and
// re-encodes to the same bytes; err != nil ⇒ it wraps ErrMalformed.
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range codecEntries {
		valid := AppendEntry(nil, e)
		f.Add(valid)
		f.Add(valid[:len(valid)-1]) // truncated
	}
	f.Add([]byte{})                                                           // empty
	f.Add([]byte(wb{}.u8(2).name(1)))                                         // bad version
	f.Add([]byte(wb{}.head(1).uv(MaxConns + 1)))                              // conn count overflow
	f.Add([]byte(wb{}.head(1).uv(1 << 62)))                                   // absurd conn count
	f.Add([]byte(wb{}.head(1).uv(2).conn(3, 0).conn(2, 0)))                   // unsorted conns
	f.Add([]byte(wb{}.head(1).uv(0).uv(2).str("b").str("").str("a").str(""))) // unsorted caps
	f.Add([]byte(wb{}.u8(WireVersion).name(1).u64(1).u64(2).u8(0x80).u8(0)))  // non-minimal varint
	f.Add(AppendEntry(nil, ent(3, math.MaxUint64, math.MaxUint64)))           // largest stamp (Merge refuses it)
	f.Add(AppendEntry(nil, ent(3, math.MaxUint64, 0)))                        // incarnation past any clock
	f.Fuzz(func(t *testing.T, b []byte) {
		e, n, err := DecodeEntry(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || n != 0 {
				t.Fatalf("error %v (n=%d) does not wrap ErrMalformed", err, n)
			}
			return
		}
		if n <= 0 || n > len(b) {
			t.Fatalf("n = %d of %d", n, len(b))
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded an invalid entry: %v", err)
		}
		if again := AppendEntry(nil, e); !bytes.Equal(again, b[:n]) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b[:n], again)
		}
	})
}

// FuzzEntryRoundTrip builds entries from fuzzed fields: Decode(Append(e))
// succeeds ⇔ e is valid, and then returns e.
func FuzzEntryRoundTrip(f *testing.F) {
	f.Add(uint64(1), uint64(2), uint64(3), uint64(4), "nick", []byte{0, 2, 3, 0, 5, 1}, "1.2.3.4:6783", "k", "v", uint8(2))
	f.Add(uint64(0), uint64(0), uint64(0), uint64(0), "", []byte{}, "", "", "", uint8(0))                 // zero name: invalid
	f.Add(uint64(1)<<50, uint64(0), uint64(0), uint64(0), "", []byte{}, "", "", "", uint8(0))             // name beyond 48 bits
	f.Add(uint64(7), uint64(0), uint64(0), uint64(0), "", []byte{0, 3, 3, 0, 2, 3}, "", "", "", uint8(0)) // unsorted conns
	f.Add(uint64(7), uint64(0), uint64(0), uint64(0), "", []byte{0, 7, 3}, "", "", "", uint8(0))          // conn to itself
	f.Add(uint64(7), uint64(0), uint64(0), uint64(0), "", []byte{}, "", "k", "v", uint8(MaxCaps+1))       // too many caps
	f.Fuzz(func(t *testing.T, name, uid, inc, ver uint64, nick string, conns []byte, addr, key, val string, ncaps uint8) {
		e := Entry{Name: pnOf(name), Nickname: nick, UID: uid, Incarnation: inc, Version: ver}
		for i := 0; i+2 < len(conns) && len(e.Conns) < 64; i += 3 {
			e.Conns = append(e.Conns, Conn{Peer: pnOf(uint64(conns[i])<<8 | uint64(conns[i+1])), Addr: addr,
				Outbound: conns[i+2]&1 != 0, Established: conns[i+2]&2 != 0})
		}
		if ncaps > 0 {
			e.Caps = map[string]string{}
			for i := range ncaps {
				e.Caps[fmt.Sprint(key, i)] = val
			}
		}
		b := AppendEntry(nil, e)
		got, n, err := DecodeEntry(b)
		if valid := e.Validate() == nil; valid != (err == nil) {
			t.Fatalf("Validate() ok = %v but DecodeEntry err = %v for %v", valid, err, e)
		}
		if err != nil {
			return
		}
		if n != len(b) {
			t.Fatalf("n = %d, want %d", n, len(b))
		}
		if diff := cmp.Diff(e, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

// FuzzDecodeDigest: err == nil ⇒ canonical, sorted, re-encodes identically.
func FuzzDecodeDigest(f *testing.F) {
	valid := AppendDigest(nil, []DigestItem{{1, 2, 3}, {4, 5, 1 << 40}})
	f.Add(valid)
	f.Add(valid[:len(valid)-1])                                                 // truncated
	f.Add([]byte{2, 0})                                                         // bad version
	f.Add([]byte(wb{}.u8(WireVersion).uv(MaxDigestItems + 1)))                  // count overflow
	f.Add(AppendDigest(nil, []DigestItem{{4, 0, 0}, {4, 0, 0}}))                // duplicate names
	f.Add(AppendDigest(nil, []DigestItem{{4, math.MaxUint64, math.MaxUint64}})) // largest stamp
	f.Fuzz(func(t *testing.T, b []byte) {
		items, n, err := DecodeDigest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if !strictlyAscending(items) || (len(items) > 0 && items[0].Name == 0) {
			t.Fatalf("decoded a non-canonical digest %v", items)
		}
		if again := AppendDigest(nil, items); !bytes.Equal(again, b[:n]) {
			t.Fatalf("not canonical:\n in  %x\n out %x", b[:n], again)
		}
	})
}
