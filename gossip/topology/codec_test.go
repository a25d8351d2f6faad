package topology

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var codecEntries = []Entry{
	{Name: 1},
	ent(2, 1700000000000000000, 7, est(1), pend(3), Conn{Peer: pn(9), Addr: "[fd00::9]:6783", Outbound: true}),
	{
		Name: 0xfeffffffffff, Nickname: strings.Repeat("n", MaxStringLen), UID: ^uint64(0), Incarnation: ^uint64(0), Version: ^uint64(0),
		Conns: []Conn{{Peer: 1, Addr: strings.Repeat("a", MaxStringLen), Outbound: true, Established: true}},
		Caps:  map[string]string{"": "", "transport": "sleeve,quic", "wg-pub": strings.Repeat("k", 44), "z": strings.Repeat("v", MaxStringLen)},
	},
}

func TestEntryRoundTrip(t *testing.T) {
	for _, e := range codecEntries {
		b := AppendEntry([]byte("prefix"), e)[len("prefix"):]
		got, n, err := DecodeEntry(append(b, "trailer"...))
		if err != nil || n != len(b) {
			t.Fatalf("%v: n=%d (want %d) err=%v", e, n, len(b), err)
		}
		if diff := cmp.Diff(e, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	all := AppendEntry(AppendEntry(nil, codecEntries[0]), codecEntries[1])
	es, err := DecodeEntries(all)
	if err != nil || len(es) != 2 || es[1].Name != 2 {
		t.Fatalf("DecodeEntries = %v, %v", es, err)
	}
	if _, err := DecodeEntries(all[:len(all)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("DecodeEntries(truncated) err = %v", err)
	}
}

// wb builds raw encodings, valid or not.
type wb []byte

func (w wb) u8(v byte) wb { return append(w, v) }
func (w wb) name(n uint64) wb {
	return append(w, byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
}
func (w wb) u64(v uint64) wb          { return binary.BigEndian.AppendUint64(w, v) }
func (w wb) uv(v uint64) wb           { return binary.AppendUvarint(w, v) }
func (w wb) str(s string) wb          { return append(w.uv(uint64(len(s))), s...) }
func (w wb) head(name uint64) wb      { return w.u8(WireVersion).name(name).u64(1).u64(2).uv(3).str("nick") }
func (w wb) conn(p uint64, f byte) wb { return w.name(p).u8(f).str("1.2.3.4:6783") }

func TestDecodeEntryMalformed(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "truncated encoding version"},
		{"bad version", wb{}.u8(2).name(1), "unsupported encoding version 2"},
		{"truncated name", wb{}.u8(WireVersion).u8(0), "truncated name"},
		{"zero name", wb{}.head(0).uv(0).uv(0), "name is the zero peer name"},
		{"version varint overflow", wb{}.u8(WireVersion).name(1).u64(1).u64(2).u64(^uint64(0)).u8(0xff).u8(0xff).u8(0xff), "entry version overflows"},
		{"version non-minimal", wb{}.u8(WireVersion).name(1).u64(1).u64(2).u8(0x83).u8(0x00), "non-minimal"},
		{"nickname too long", wb{}.u8(WireVersion).name(1).u64(1).u64(2).uv(3).str(strings.Repeat("x", 256)), "exceeds 255"},
		{"conn count over limit", wb{}.head(1).uv(MaxConns + 1), "connection count 4097 exceeds 4096"},
		{"conn count over input", wb{}.head(1).uv(100).conn(2, 0), "exceeds what"},
		{"conn to itself", wb{}.head(1).uv(1).conn(1, 0).uv(0), "connection to itself"},
		{"conns unsorted", wb{}.head(1).uv(2).conn(3, 0).conn(2, 0).uv(0), "ascending"},
		{"conns duplicated", wb{}.head(1).uv(2).conn(3, 0).conn(3, 0).uv(0), "ascending"},
		{"conn zero peer", wb{}.head(1).uv(1).conn(0, 0).uv(0), "zero peer name"},
		{"unknown flags", wb{}.head(1).uv(1).conn(2, 4).uv(0), "unknown flags"},
		{"caps over limit", wb{}.head(1).uv(0).uv(MaxCaps + 1), "capability count 65 exceeds 64"},
		{"caps unsorted", wb{}.head(1).uv(0).uv(2).str("b").str("").str("a").str(""), "ascending"},
		{"caps duplicated", wb{}.head(1).uv(0).uv(2).str("a").str("1").str("a").str("2"), "ascending"},
		{"missing caps", wb{}.head(1).uv(0), "truncated capability count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, n, err := DecodeEntry(tt.b)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) || n != 0 {
				t.Fatalf("DecodeEntry = %d, %v; want an ErrMalformed containing %q", n, err, tt.want)
			}
		})
	}
	// Every strict prefix of a valid encoding is truncated.
	for _, e := range codecEntries {
		b := AppendEntry(nil, e)
		for i := range len(b) {
			if _, _, err := DecodeEntry(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("prefix %d/%d of %v: err = %v", i, len(b), e, err)
			}
		}
	}
}

func TestDigestCodec(t *testing.T) {
	items := []DigestItem{{1, 2, 3}, {5, 1 << 60, 1 << 40}, {0xfeffffffffff, 0, 0}}
	b := AppendDigest(nil, items)
	got, n, err := DecodeDigest(b)
	if err != nil || n != len(b) || !cmp.Equal(items, got) {
		t.Fatalf("DecodeDigest = %v, %d, %v", got, n, err)
	}
	bad := map[string][]byte{
		"truncated":   b[:len(b)-1],
		"bad version": append([]byte{9}, b[1:]...),
		"unsorted":    AppendDigest(nil, []DigestItem{{2, 0, 0}, {1, 0, 0}}),
		"zero name":   AppendDigest(nil, []DigestItem{{0, 0, 0}}),
		"count over":  wb{}.u8(WireVersion).uv(MaxDigestItems + 1),
		"count input": wb{}.u8(WireVersion).uv(2).name(1).u64(0).uv(0),
	}
	for name, b := range bad {
		if _, _, err := DecodeDigest(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestDecodeDoesNotAlias(t *testing.T) {
	b := AppendEntry(nil, codecEntries[1])
	e, _, _ := DecodeEntry(b)
	want := e.Clone()
	want.Nickname = strings.Clone(want.Nickname)
	clear(b)
	if !bytes.Equal([]byte(e.Nickname), []byte(want.Nickname)) || e.Conns[0].Addr != "10.0.0.1:6783" {
		t.Fatalf("decoded entry aliases its input: %v", e)
	}
}

// TestEntriesPerMessage: EncodeEntries splits by count and by bytes, and
// the decoders refuse more than MaxEntriesPerMessage entries in a message
// (MergeEncoded after merging the first MaxEntriesPerMessage).
func TestEntriesPerMessage(t *testing.T) {
	var es []Entry
	for i := 1; i <= 2*MaxEntriesPerMessage+1; i++ {
		es = append(es, ent(i, 1, 1, est(i+1)))
	}
	msgs := EncodeEntries(es, 1<<30)
	if len(msgs) != 3 {
		t.Fatalf("%d entries in %d messages, want 3", len(es), len(msgs))
	}
	var got []Entry
	for _, b := range msgs {
		part, err := DecodeEntries(b)
		if err != nil || len(part) > MaxEntriesPerMessage {
			t.Fatalf("message of %d entries: %v", len(part), err)
		}
		got = append(got, part...)
	}
	if !slices.Equal(names(got), names(es)) {
		t.Fatal("entries lost or reordered across messages")
	}
	one := len(AppendEntry(nil, es[0]))
	for _, b := range EncodeEntries(es[:10], 3*one) {
		if len(b) > 3*one {
			t.Errorf("message of %d bytes, max %d", len(b), 3*one)
		}
	}
	if msgs := EncodeEntries(es[:2], 1); len(msgs) != 2 {
		t.Errorf("entries longer than the bound: %d messages, want one each", len(msgs))
	}
	if EncodeEntries(nil, 100) != nil {
		t.Error("messages for no entries")
	}
	var all []byte
	for _, e := range es[:MaxEntriesPerMessage+1] {
		all = AppendEntry(all, e)
	}
	if _, err := DecodeEntries(all); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeEntries of %d entries: %v", MaxEntriesPerMessage+1, err)
	}
	tp := newTopo(t, ent(100000, 1, 1), nil)
	changed, _, err := tp.MergeEncoded(0, all)
	if !errors.Is(err, ErrMalformed) || len(changed) != MaxEntriesPerMessage {
		t.Errorf("MergeEncoded of %d entries: %d merged, %v", MaxEntriesPerMessage+1, len(changed), err)
	}
}
