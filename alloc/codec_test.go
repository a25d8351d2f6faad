package alloc

import (
	"bytes"
	"errors"
	"math"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func sampleState() *State {
	u := netip.MustParsePrefix("10.32.0.0/12")
	st := &State{Ring: NewRing(u, []frame.PeerName{3, 1, 2}), Members: map[frame.PeerName]*Member{}}
	st.Members[1] = &Member{Name: 1, Version: 4, Wants: []netip.Prefix{netip.MustParsePrefix("10.40.3.0/24")}, WantSeq: 2,
		Proposal: &Proposal{Seq: 1, Dead: []frame.PeerName{3}, Hash: 77}, Ack: &Ack{By: 1, Seq: 1}}
	st.Members[2] = &Member{Name: 2, Version: 2, Ack: &Ack{By: 1, Seq: 1}}
	st.Members[3] = &Member{Name: 3, Epoch: 1, Version: 9, Removed: true}
	return st
}

func TestStateRoundTrip(t *testing.T) {
	st := sampleState()
	b := AppendState(nil, st)
	got, err := DecodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if b2 := AppendState(nil, got); !bytes.Equal(b, b2) {
		t.Fatalf("round trip changed the encoding:\n%x\n%x", b, b2)
	}
	if got.Ring.identity() != st.Ring.identity() || len(got.Members) != 3 || got.Members[1].Proposal.Hash != 77 {
		t.Fatalf("decoded %+v", got)
	}
}

func TestDecodeStateRejects(t *testing.T) {
	good := AppendState(nil, sampleState())
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"wrong version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-3]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"universe with host bits", func() []byte { b := append([]byte{}, good...); b[4] = 1; return b }()},
		{"prefix too short", func() []byte { b := append([]byte{}, good...); b[5] = 4; return b }()},
		{"huge seed count", func() []byte { b := append([]byte{}, good[:6]...); return append(b, 0xff, 0xff, 0x03) }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeState(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("DecodeState = %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzDecodeState: the decoder of gossiped state never panics, every
// error wraps ErrMalformed, and what it accepts re-encodes to the same
// bytes (one encoding per state) and merges into a state of its ring.
func FuzzDecodeState(f *testing.F) {
	good := AppendState(nil, sampleState())
	f.Add(good)
	f.Add(good[:20])                                                                     // truncated in the entries
	f.Add(append([]byte{2}, good[1:]...))                                                // unknown version
	f.Add(AppendState(nil, &State{Ring: NewRing(DefaultUniverse, []frame.PeerName{1})})) // no members
	f.Add(AppendState(nil, maxedState()))                                                // every counter at its maximum
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeState(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if b2 := AppendState(nil, st); !bytes.Equal(b, b2) {
			t.Fatalf("accepted a non-canonical encoding:\n%x\n%x", b, b2)
		}
		if st.Ring.Universe != DefaultUniverse || len(st.Ring.Seeds) == 0 {
			return
		}
		a, err := New(Config{Self: 1, Seeds: []frame.PeerName{1}})
		if err != nil {
			t.Fatal(err)
		}
		a.MergeState(st) // may refuse another ring; must not panic
		a.Tick()
		_, _ = a.Allocate("k", DefaultSubnet(DefaultUniverse))
	})
}

// maxedState is a state of the default ring seeded by 1 and 2 whose
// counters are all at their maximum.
func maxedState() *State {
	const top = math.MaxUint32
	st := &State{Ring: NewRing(DefaultUniverse, []frame.PeerName{1, 2}), Members: map[frame.PeerName]*Member{}}
	for i := range st.Ring.Entries {
		st.Ring.Entries[i].Version = top
	}
	st.Members[1] = &Member{Name: 1, Epoch: top, Version: top, Wants: []netip.Prefix{netip.MustParsePrefix("10.40.3.0/24")}, WantSeq: top,
		Proposal: &Proposal{Seq: top, Dead: []frame.PeerName{3}, Hash: math.MaxUint64}, Ack: &Ack{By: 1, Seq: top}}
	st.Members[2] = &Member{Name: 2, Epoch: top, Version: top, Removed: true}
	return st
}
