package isolation

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func TestAllowSetRoundTrip(t *testing.T) {
	s := NewAllowSet(1, nil)
	p1 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24"))
	p2 := NewPair(pfx("fd00:1::/64"), pfx("fd00:2::/64"))
	p3 := NewPair(pfx("10.40.3.0/24"), pfx("192.0.2.0/24"))
	for _, p := range []Pair{p1, p2, p3} {
		if ch, err := s.Set(p, true); err != nil || !ch {
			t.Fatalf("Set(%v) = %v, %v", p, ch, err)
		}
	}
	if ch, _ := s.Set(p3, false); !ch {
		t.Error("deny of an allowed pair reports no change")
	}
	if got := s.Allowed(); !slices.Equal(got, []Pair{p1, p2}) {
		t.Errorf("Allowed = %v", got)
	}
	st := s.GossipState()
	m, err := DecodeAllow(st)
	if err != nil || len(m) != 3 || m[p3].Allowed || !m[p2].Allowed || m[p1].Origin != 1 {
		t.Fatalf("DecodeAllow = %+v, %v", m, err)
	}
	if !bytes.Equal(encodeAllow(m), encodeAllow(s.entries)) {
		t.Error("re-encoding differs")
	}
	// A fresh replica restored from the state has the same pairs.
	r := NewAllowSet(2, nil)
	if err := r.Restore(st); err != nil || !slices.Equal(r.Allowed(), s.Allowed()) {
		t.Errorf("Restore: %v, allowed %v", err, r.Allowed())
	}
}

// Replicas that allow and deny at random and gossip in random order
// converge, and a pair decided last (after the others heard everything)
// ends as that decision everywhere.
func TestAllowSetConverges(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	pairs := []Pair{
		NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24")),
		NewPair(pfx("10.40.1.0/24"), pfx("10.40.3.0/24")),
		NewPair(pfx("10.40.2.0/24"), pfx("10.40.3.0/24")),
	}
	for round := range 200 {
		n := 2 + r.IntN(4)
		reps := make([]*AllowSet, n)
		for i := range reps {
			reps[i] = NewAllowSet(frame.PeerName(i+1), nil)
		}
		for range 30 {
			switch i := r.IntN(n); r.IntN(2) {
			case 0:
				reps[i].Set(pairs[r.IntN(len(pairs))], r.IntN(2) == 0)
			case 1:
				j := r.IntN(n)
				if err := reps[j].GossipMerge(reps[i].self, reps[i].GossipState()); err != nil && reps[i].GossipState() != nil {
					t.Fatal(err)
				}
			}
		}
		sync := func() {
			for range 2 {
				for _, a := range reps {
					for _, b := range reps {
						if st := a.GossipState(); st != nil {
							b.GossipMerge(a.self, st)
						}
					}
				}
			}
		}
		sync()
		for _, x := range reps[1:] {
			if !slices.Equal(x.Allowed(), reps[0].Allowed()) {
				t.Fatalf("round %d: replicas disagree: %v vs %v", round, x.Allowed(), reps[0].Allowed())
			}
		}
		last := r.IntN(n)
		want := r.IntN(2) == 0
		reps[last].Set(pairs[0], want)
		sync()
		for _, x := range reps {
			if got := slices.Contains(x.Allowed(), pairs[0]); got != want {
				t.Fatalf("round %d: the last decision (%v by %d) lost at replica %d", round, want, last, x.self)
			}
		}
	}
}

func TestAllowSetChangedCallback(t *testing.T) {
	calls := 0
	a := NewAllowSet(1, nil)
	b := NewAllowSet(2, func() { calls++ })
	p := NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24"))
	a.Set(p, true)
	b.GossipMerge(1, a.GossipState())
	b.GossipMerge(1, a.GossipState()) // the same again: no change
	if calls != 1 {
		t.Errorf("changed called %d times, want 1", calls)
	}
}

func FuzzDecodeAllow(f *testing.F) {
	s := NewAllowSet(0x0200000000ff, nil)
	s.Set(NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24")), true)
	s.Set(NewPair(pfx("fd00:1::/64"), pfx("fd00:2::/64")), false)
	good := s.GossipState()
	f.Add(good)
	f.Add(good[:len(good)-1])                   // truncated
	f.Add(append([]byte{2}, good[1:]...))       // wrong version
	f.Add([]byte{1, 0, 1, 5})                   // unknown family
	f.Add([]byte{1, 0, 1, 4, 10, 40, 1, 1, 24}) // host bits set in a prefix
	f.Add(append(append([]byte{}, good...), 0)) // trailing byte
	f.Add([]byte{1, 0xff, 0xff})                // count too large
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeAllow(b)
		if err != nil {
			if m != nil {
				t.Fatal("result with an error")
			}
			return
		}
		// Valid input re-encodes to a state that decodes to the same map.
		m2, err := DecodeAllow(encodeAllow(m))
		if err != nil || len(m2) != len(m) {
			t.Fatalf("re-decode: %v (%d vs %d entries)", err, len(m2), len(m))
		}
		for p, e := range m {
			if m2[p] != e || NewPair(p.A, p.B) != p || p.A.Addr().Is4() != p.B.Addr().Is4() {
				t.Fatalf("entry %v: %+v vs %+v", p, e, m2[p])
			}
		}
	})
}
