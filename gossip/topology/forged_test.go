package topology

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

// fixedClock returns a Config whose clock reads *now.
func fixedClock(now *time.Time) *Config {
	return &Config{Now: func() time.Time { return *now }}
}

func TestMergeRefusesFutureStamps(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	t0 := uint64(now.UnixNano())
	lim := t0 + uint64(DefaultMaxClockSkew)
	tp := newTopo(t, ent(1, t0, 1), fixedClock(&now))
	tp.AddNeighbor(2)
	tp.Sent(2, tp.PendingFor(2))

	// Forged copies of peer 3 and of ourselves: refused, counted, and
	// nothing recorded about them.
	forged := []Entry{ent(3, math.MaxUint64, math.MaxUint64), ent(3, lim+1, 0), ent(1, math.MaxUint64, 5)}
	if ch, rs := tp.MergeFrom(2, forged); ch != nil || rs != nil {
		t.Fatalf("forged entries merged: %v %v", ch, rs)
	}
	if got := tp.Stats().Dropped[DropAhead]; got != 3 {
		t.Fatalf("Dropped[ahead] = %d, want 3", got)
	}
	if self := tp.SelfEntry(); self.stamp() != (stamp{t0, 1}) {
		t.Fatalf("a forged self entry moved ours to %v", self)
	}
	if _, ok := tp.Get(3); ok {
		t.Fatal("forged entry stored")
	}
	if _, weNeed := tp.Missing([]DigestItem{{1, math.MaxUint64, 0}, {3, math.MaxUint64, 0}}); weNeed != nil {
		t.Fatalf("Missing asks for entries Merge refuses: %v", weNeed)
	}

	// They poison nothing: the real entry merges, and is gossiped to the
	// neighbour that sent the forgeries.
	if ch, _ := tp.MergeFrom(2, []Entry{ent(3, t0-5, 1)}); !slices.Equal(ch, pns(3)) {
		t.Fatalf("real entry after forged ones: changed %v", ch)
	}
	tp.AddNeighbor(4)
	if p := names(tp.PendingFor(4)); !slices.Equal(p, pns(1, 3)) {
		t.Fatalf("pending for a new neighbour %v", p)
	}
	// At the limit: accepted; once our clock has caught up, what was
	// refused is accepted too.
	if ch, _ := tp.Merge([]Entry{ent(3, lim, 0)}); !slices.Equal(ch, pns(3)) {
		t.Fatalf("entry at the skew limit refused")
	}
	now = now.Add(time.Nanosecond)
	if ch, _ := tp.Merge([]Entry{ent(3, lim+1, 0)}); !slices.Equal(ch, pns(3)) {
		t.Fatalf("entry within the limit after the clock moved refused")
	}

	// MergeEncoded counts the same way, and keeps merging after.
	b := AppendEntry(nil, ent(5, math.MaxUint64, 1))
	b = AppendEntry(b, ent(6, t0, 1))
	if ch, _, err := tp.MergeEncoded(2, b); err != nil || !slices.Equal(ch, pns(6)) {
		t.Fatalf("MergeEncoded = %v, %v", ch, err)
	}
	if _, _, err := tp.MergeEncoded(2, append(b, 0xff)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("malformed: %v", err)
	}
	bad := ent(7, 1, 1, est(7))
	tp.Merge([]Entry{bad})
	want := [NumDropReasons]uint64{DropInvalid: 1, DropAhead: 5, DropMalformed: 1}
	if got := tp.Stats().Dropped; got != want {
		t.Fatalf("Dropped = %v, want %v", got, want)
	}
	for r := range NumDropReasons {
		if r.String() == "" || r.String() == DropReason(NumDropReasons).String() {
			t.Fatalf("reason %d has no name", r)
		}
	}
	checkInvariants(t, tp)
}

// The owner of an entry that was forged with the largest stamp Merge
// accepts gets its entry back everywhere, both while running and after a
// restart with a new UID.
func TestOwnerRecoversFromForgedStamp(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	t0 := uint64(now.UnixNano())
	lim := t0 + uint64(DefaultMaxClockSkew)
	cfg := fixedClock(&now)
	a := newTopo(t, ent(1, t0, 1, est(2)), cfg)
	owner := newTopo(t, ent(2, t0, 1, est(1)), cfg)
	a.Merge([]Entry{owner.SelfEntry()})
	owner.Merge([]Entry{a.SelfEntry()})

	forged := ent(2, lim, math.MaxUint64)
	forged.UID = 0xbad
	if ch, _ := a.Merge([]Entry{ent(2, math.MaxUint64, math.MaxUint64)}); ch != nil {
		t.Fatal("(MaxUint64, MaxUint64) accepted")
	}
	if ch, rs := a.Merge([]Entry{forged}); !slices.Equal(ch, pns(2)) || !slices.Equal(rs, pns(2)) {
		t.Fatalf("forged entry at the limit: %v %v", ch, rs)
	}
	exchange := func(owner *Topology) {
		t.Helper()
		for range 2 {
			owner.Merge(a.Entries())
			now = now.Add(time.Millisecond) // the time a gossip round takes
			a.Merge(owner.Entries())
		}
		got, _ := a.Get(2)
		if own := owner.SelfEntry(); got.UID != own.UID || Compare(got, own) != 0 {
			t.Fatalf("a holds %v (uid %x), owner is %v (uid %x)", got, got.UID, own, own.UID)
		}
	}

	// The running owner outbids the forged copy.
	exchange(owner)
	if own := owner.SelfEntry(); own.stamp() != (stamp{lim + 1, 0}) {
		t.Fatalf("owner bumped to %v, want %d.0", own, lim+1)
	}

	// Forged again, then the owner restarts (new UID, Incarnation of its
	// start time, which is below the forged one): it recovers too.
	now = now.Add(time.Minute)
	forged = ent(2, uint64(now.UnixNano())+uint64(DefaultMaxClockSkew), math.MaxUint64)
	forged.UID = 0xbad
	a.Merge([]Entry{forged})
	restarted := newTopo(t, Entry{Name: 2, UID: 0x600d, Incarnation: uint64(now.UnixNano()), Version: 1, Conns: []Conn{est(1)}}, cfg)
	if ch, _ := a.Merge([]Entry{restarted.SelfEntry()}); ch != nil {
		t.Fatal("the restarted owner's first entry outranks the forged one")
	}
	exchange(restarted)
	if got, _ := a.Get(2); got.UID != 0x600d {
		t.Fatalf("a holds uid %x, want the restarted owner's", got.UID)
	}
	checkInvariants(t, a)
}

func TestBumpSaturates(t *testing.T) {
	tests := []struct{ past, want stamp }{
		{stamp{5, 5}, stamp{5, 6}},
		{stamp{5, math.MaxUint64}, stamp{6, 0}},
		{stamp{math.MaxUint64, 7}, stamp{math.MaxUint64, 8}},
		{stamp{math.MaxUint64, math.MaxUint64}, stamp{math.MaxUint64, math.MaxUint64}},
	}
	for _, tt := range tests {
		var e Entry
		bump(&e, tt.past)
		if e.stamp() != tt.want {
			t.Errorf("bump(%v) = %v, want %v", tt.past, e.stamp(), tt.want)
		}
	}
	// A local clock gone so far ahead that our own entry is at the very
	// top: a merge of the same stamp from another run leaves it there.
	now := time.Unix(0, 0).Add(time.Duration(math.MaxInt64))
	cfg := fixedClock(&now)
	cfg.MaxClockSkew = time.Duration(math.MaxInt64)
	tp := newTopo(t, ent(1, math.MaxUint64, math.MaxUint64), cfg)
	other := ent(1, math.MaxUint64, math.MaxUint64)
	other.UID++
	tp.Merge([]Entry{other})
	if self := tp.SelfEntry(); self.stamp() != (stamp{math.MaxUint64, math.MaxUint64}) {
		t.Fatalf("self wrapped to %v", self)
	}
	if got := satAdd(math.MaxUint64-1, 5); got != math.MaxUint64 {
		t.Fatalf("satAdd = %d", got)
	}
}
