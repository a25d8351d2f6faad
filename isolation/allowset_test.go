package isolation

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

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
	f.Add(allowState(map[Pair]allowEntry{       // the largest clock
		NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24")): {Clock: ^uint64(0), Origin: 0xffffffffffff},
	}))
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

func allowState(es map[Pair]allowEntry) []byte { return encodeAllow(es) }

// A state whose clocks are far ahead of ours is refused entry by entry
// and counted; it leaves our clock alone, so later changes still win.
func TestAllowSetRefusesClockJumps(t *testing.T) {
	p1 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24"))
	p2 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.3.0/24"))
	p3 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.4.0/24"))
	s := NewAllowSet(1, nil)
	s.Set(p1, true)
	err := s.GossipMerge(9, allowState(map[Pair]allowEntry{
		p1: {Allowed: false, Clock: ^uint64(0), Origin: 9},
		p2: {Allowed: true, Clock: 1 + MaxAllowClockStep + 1, Origin: 9},
		p3: {Allowed: true, Clock: 1 + MaxAllowClockStep, Origin: 9}, // at the limit
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Allowed(); !slices.Equal(got, []Pair{p1, p3}) {
		t.Fatalf("Allowed = %v, want the forged deny and jump refused", got)
	}
	if st := s.Stats(); st.Ahead != 2 || st.Full != 0 {
		t.Fatalf("Stats = %+v", st)
	}
	// The clock moved only as far as the accepted entry: a deny now wins
	// here and at a replica that takes our state.
	if ch, err := s.Set(p3, false); err != nil || !ch {
		t.Fatalf("Set after a refused jump: %v, %v", ch, err)
	}
	r := NewAllowSet(2, nil)
	r.Restore(s.State())
	if got := r.Allowed(); !slices.Equal(got, []Pair{p1}) {
		t.Fatalf("replica Allowed = %v", got)
	}
}

// At the top of the clock, Set saturates instead of wrapping: it still
// decides pairs it can win, and refuses the ones it cannot.
func TestAllowSetClockSaturates(t *testing.T) {
	p1 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.2.0/24"))
	p2 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.3.0/24"))
	p3 := NewPair(pfx("10.40.1.0/24"), pfx("10.40.4.0/24"))
	s := NewAllowSet(5, nil)
	// Restore takes our own saved state whatever its clocks.
	if err := s.Restore(allowState(map[Pair]allowEntry{
		p1: {Allowed: true, Clock: ^uint64(0), Origin: 9},
		p2: {Allowed: true, Clock: ^uint64(0), Origin: 3},
	})); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Set(p1, false); err == nil {
		t.Fatal("Set of a pair held at the top clock by a higher origin succeeded")
	}
	for _, p := range []Pair{p2, p3} {
		if _, err := s.Set(p, false); err != nil {
			t.Fatalf("Set(%v) at the top clock: %v", p, err)
		}
	}
	if s.clock != ^uint64(0) || s.entries[p3].Clock != ^uint64(0) {
		t.Fatalf("clock wrapped: %d, entry %+v", s.clock, s.entries[p3])
	}
	if got := s.Allowed(); !slices.Equal(got, []Pair{p1}) {
		t.Fatalf("Allowed = %v", got)
	}
}

// Tombstones expire after TombstoneTTL, freeing their room in the set;
// copies of them from replicas that expire them later are not taken
// again, while newer decisions still are.
func TestAllowSetTombstonesExpire(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	mk := func(self frame.PeerName) *AllowSet {
		s := NewAllowSet(self, nil)
		s.Now = func() time.Time { return now }
		return s
	}
	a, b := mk(1), mk(2)
	if a.ttl() != DefaultAllowTombstoneTTL {
		t.Fatalf("default TTL %v", a.ttl())
	}
	a.TombstoneTTL, b.TombstoneTTL = 10*time.Minute, 10*time.Minute
	pair := func(i int) Pair {
		return NewPair(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 41, byte(i >> 8), byte(i)}), 32), pfx("10.40.0.0/24"))
	}
	for i := range MaxAllowEntries {
		if _, err := a.Set(pair(i), false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Set(pair(MaxAllowEntries), true); err == nil {
		t.Fatal("Set beyond MaxAllowEntries succeeded")
	}
	// b hears of the tombstones 5 minutes after a made them.
	now = now.Add(5 * time.Minute)
	b.GossipMerge(1, a.GossipState())
	if err := b.GossipMerge(1, allowState(map[Pair]allowEntry{pair(5000): {Allowed: true, Clock: 7, Origin: 1}})); err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Full != 1 {
		t.Fatalf("b Stats = %+v, want one refused for room", st)
	}

	now = now.Add(5 * time.Minute) // a's tombstones are 10 minutes old
	if _, err := a.Set(pair(MaxAllowEntries), true); err != nil {
		t.Fatalf("Set after the tombstones expired: %v", err)
	}
	if n := len(a.entries); n != 1 {
		t.Fatalf("a holds %d entries after expiry, want 1", n)
	}
	// b still has them: a does not take them back.
	if n := len(b.entries); n != MaxAllowEntries {
		t.Fatalf("b holds %d entries, want its tombstones", n)
	}
	a.GossipMerge(2, b.GossipState())
	if n := len(a.entries); n != 1 {
		t.Fatalf("a took back %d expired tombstones", n-1)
	}
	// A newer deny of a pair whose tombstone expired is taken.
	b.Set(pair(3), false)
	a.GossipMerge(2, b.GossipState())
	if _, ok := a.entries[pair(3)]; !ok || len(a.entries) != 2 {
		t.Fatalf("newer deny not taken: %d entries", len(a.entries))
	}
	now = now.Add(5 * time.Minute)
	b.GossipMerge(1, a.GossipState())
	if n := len(b.entries); n != 2 || !slices.Equal(b.Allowed(), []Pair{pair(MaxAllowEntries)}) {
		t.Fatalf("b holds %d entries, allowed %v", n, b.Allowed())
	}
}
