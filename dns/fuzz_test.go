package dns

import (
	"bytes"
	"net/netip"
	"testing"
)

// FuzzDecodeState: a state decodes only if it is canonical (encoding the
// result gives the same bytes), and merging whatever decodes keeps the
// registry within its bounds.
func FuzzDecodeState(f *testing.F) {
	valid := EncodeState([]*Register{
		{Owner: peerA, Stamp: 5, Entries: []Entry{{Name: "a.weave.local.", Addr: netip.MustParseAddr("10.32.0.1"), Key: "/run/netns/x"},
			{Name: "b.weave.local.", Addr: netip.MustParseAddr("fd00::1")}}},
		{Owner: peerB, Stamp: 7, Gone: true},
	})
	f.Add(valid)
	f.Add(valid[:len(valid)-1])                                                         // truncated
	f.Add(append(bytes.Clone(valid), 0))                                                // a byte after
	f.Add([]byte{2, 0, 0})                                                              // unknown version
	f.Add([]byte{1, 0xff, 0xff})                                                        // too many registers
	f.Add(EncodeState([]*Register{{Owner: peerB, Stamp: 1}, {Owner: peerA, Stamp: 1}})) // out of order
	f.Add(EncodeState(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		regs, err := DecodeState(b)
		if err != nil {
			return
		}
		if got := EncodeState(regs); !bytes.Equal(got, b) {
			t.Fatalf("not canonical: %x re-encodes as %x", b, got)
		}
		r := NewRegistry(peerC)
		if err := r.GossipMerge(peerA, b); err != nil {
			t.Fatal(err)
		}
		if st := r.State(); len(st) > MaxStateBytes {
			t.Fatalf("state of %d bytes", len(st))
		}
	})
}
