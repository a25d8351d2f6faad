package topology

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/weave-switch/weave-switch/frame"
)

func TestMerge(t *testing.T) {
	base := []Entry{ent(2, 10, 5, est(1)), ent(3, 10, 5)}
	tests := []struct {
		name          string
		merge         []Entry
		wantChanged   []frame.PeerName
		wantRestarted []frame.PeerName
		want          map[int]stamp // name → stamp after, for peers 2..4
	}{
		{"new peer", []Entry{ent(4, 1, 0)}, pns(4), nil, map[int]stamp{2: {10, 5}, 3: {10, 5}, 4: {1, 0}}},
		{"newer version", []Entry{ent(2, 10, 6)}, pns(2), nil, map[int]stamp{2: {10, 6}, 3: {10, 5}}},
		{"older version ignored", []Entry{ent(2, 10, 4)}, nil, nil, map[int]stamp{2: {10, 5}, 3: {10, 5}}},
		{"same version ignored", []Entry{ent(2, 10, 5, est(7))}, nil, nil, map[int]stamp{2: {10, 5}, 3: {10, 5}}},
		{"restart beats any version", []Entry{ent(3, 11, 0)}, pns(3), pns(3), map[int]stamp{2: {10, 5}, 3: {11, 0}}},
		{"old incarnation ignored", []Entry{ent(3, 9, 100)}, nil, nil, map[int]stamp{2: {10, 5}, 3: {10, 5}}},
		{"batch keeps newest", []Entry{ent(2, 10, 8), ent(2, 10, 7), ent(4, 1, 1), ent(4, 1, 2)}, pns(2, 4), nil, map[int]stamp{2: {10, 8}, 3: {10, 5}, 4: {1, 2}}},
		{"invalid ignored", []Entry{{Name: 4, Conns: []Conn{est(4)}}, {Name: 0}}, nil, nil, map[int]stamp{2: {10, 5}, 3: {10, 5}}},
		{"self entries not stored", []Entry{ent(1, 1, 3)}, nil, nil, map[int]stamp{2: {10, 5}, 3: {10, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopo(t, ent(1, 5, 5), nil)
			tp.Merge(slices.Clone(base))
			changed, restarted := tp.Merge(tt.merge)
			if !slices.Equal(changed, tt.wantChanged) || !slices.Equal(restarted, tt.wantRestarted) {
				t.Errorf("Merge = %v, %v; want %v, %v", changed, restarted, tt.wantChanged, tt.wantRestarted)
			}
			got := map[int]stamp{}
			for _, e := range tp.Entries() {
				if e.Name != 1 {
					got[int(e.Name)] = e.stamp()
				}
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(stamp{})); diff != "" {
				t.Errorf("entries (-want +got):\n%s", diff)
			}
			if s := tp.SelfEntry().stamp(); s != (stamp{5, 5}) {
				t.Errorf("self stamp changed to %v", s)
			}
		})
	}
}

func TestMergeStaleSelf(t *testing.T) {
	tests := []struct {
		name  string
		stale Entry
		want  stamp
	}{
		{"older: ignored", ent(1, 5, 4), stamp{5, 5}},
		{"our own: ignored", ent(1, 5, 5), stamp{5, 5}},
		{"same stamp, other run", func() Entry { e := ent(1, 5, 5); e.UID++; return e }(), stamp{5, 6}},
		{"higher version", ent(1, 5, 9), stamp{5, 10}},
		{"higher incarnation (clock went back)", ent(1, 8, 2), stamp{8, 3}},
		{"version overflow", ent(1, 5, math.MaxUint64), stamp{6, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tp := newTopo(t, ent(1, 5, 5, est(2)), nil)
			tp.AddNeighbor(2)
			tp.Sent(2, tp.PendingFor(2))
			if ch, rs := tp.Merge([]Entry{tt.stale}); ch != nil || rs != nil {
				t.Errorf("Merge reported %v, %v for a self entry", ch, rs)
			}
			self := tp.SelfEntry()
			if self.stamp() != tt.want || self.UID != ent(1, 5, 5).UID || len(self.Conns) != 1 {
				t.Fatalf("self = %v (uid %x), want stamp %v with our UID and conns", self, self.UID, tt.want)
			}
			if c := self.stamp().cmp(tt.stale.stamp()); c < 0 || c == 0 && self.UID != tt.stale.UID {
				t.Fatalf("our entry %v does not outrank %v", self, tt.stale)
			}
			if bumped := tt.want != (stamp{5, 5}); bumped != (len(tp.PendingFor(2)) == 1) {
				t.Fatalf("bump not gossiped: pending %v", tp.PendingFor(2))
			}
		})
	}
}

func TestSetSelf(t *testing.T) {
	tp := newTopo(t, ent(1, 5, 0), nil)
	if err := tp.SetSelf([]Conn{est(3), est(2)}, map[string]string{"t": "quic"}); err != nil {
		t.Fatal(err)
	}
	if e := tp.SelfEntry(); e.Version != 1 || e.Conns[0].Peer != 2 || e.Caps["t"] != "quic" {
		t.Fatalf("self = %v %v", e, e.Caps)
	}
	if err := tp.SetSelf([]Conn{est(2), est(3)}, map[string]string{"t": "quic"}); err != nil || tp.SelfEntry().Version != 1 {
		t.Fatalf("unchanged SetSelf bumped: %v %v", tp.SelfEntry(), err)
	}
	for _, bad := range [][]Conn{{est(1)}, {est(2), est(2)}, {{Peer: 0}}} {
		if err := tp.SetSelf(bad, nil); !errors.Is(err, ErrInvalid) || tp.SelfEntry().Version != 1 {
			t.Fatalf("SetSelf(%v) = %v, version %d", bad, err, tp.SelfEntry().Version)
		}
	}
	if _, err := New(Entry{Name: 0}, nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("New(zero name) err = %v", err)
	}
	if _, err := New(ent(1, 0, 0), &Config{GCGrace: -1}); err == nil {
		t.Fatal("New accepted a negative grace")
	}
}

func TestGC(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0
	cfg := &Config{Now: func() time.Time { return now }}
	// 1–2–3 and 2–4 all established; 5 is a gossip neighbour we know
	// nothing connects to; 6 is listed (pending) by us.
	tp := newTopo(t, ent(1, 1, 1, est(2), pend(6)), cfg)
	tp.AddNeighbor(5)
	tp.Merge([]Entry{ent(2, 1, 1, est(1), est(3), est(4)), ent(3, 1, 1, est(2)), ent(4, 1, 1, est(2)), ent(5, 1, 1), ent(6, 1, 1)})
	if gone := tp.GC(now); gone != nil {
		t.Fatalf("GC removed reachable peers %v", gone)
	}
	tp.Merge([]Entry{ent(2, 1, 2, est(1), est(4))}) // 2 drops 3
	tests := []struct {
		at   time.Duration
		want []frame.PeerName
	}{{0, nil}, {59 * time.Second, nil}, {60 * time.Second, pns(3)}, {120 * time.Second, nil}}
	for _, tt := range tests {
		if gone := tp.GC(t0.Add(tt.at)); !slices.Equal(gone, tt.want) {
			t.Fatalf("GC(+%v) = %v, want %v", tt.at, gone, tt.want)
		}
	}
	if _, ok := tp.Get(3); ok || tp.Len() != 5 {
		t.Fatalf("3 still known, len %d", tp.Len())
	}
	// Stale copies do not resurrect 3; a newer entry does.
	if ch, _ := tp.Merge([]Entry{ent(3, 1, 1, est(2))}); ch != nil {
		t.Fatalf("tombstoned entry merged: %v", ch)
	}
	if _, weNeed := tp.Missing([]DigestItem{{3, 1, 1}}); weNeed != nil {
		t.Fatalf("Missing asks for a tombstoned entry: %v", weNeed)
	}
	if ch, _ := tp.Merge([]Entry{ent(3, 1, 2)}); !slices.Equal(ch, pns(3)) {
		t.Fatalf("newer entry after GC not merged: %v", ch)
	}
	// Forget + tombstone expiry.
	if !tp.Forget(4) || tp.Forget(4) || tp.Forget(1) {
		t.Fatal("Forget results wrong")
	}
	if ch, _ := tp.Merge([]Entry{ent(4, 1, 1)}); ch != nil {
		t.Fatal("forgotten peer resurrected")
	}
	checkInvariants(t, tp)
	tp.GC(now.Add(DefaultTombstoneTTL))
	if ch, _ := tp.Merge([]Entry{ent(4, 1, 1)}); !slices.Equal(ch, pns(4)) {
		t.Fatal("tombstone did not expire")
	}
}

func TestSummaryTracksDigest(t *testing.T) {
	a := newTopo(t, ent(1, 1, 1), nil)
	b := newTopo(t, ent(2, 1, 1), nil)
	a.Merge([]Entry{ent(2, 1, 1), ent(3, 1, 4)})
	b.Merge([]Entry{ent(3, 1, 3), ent(1, 1, 1)})
	if a.Summary() == b.Summary() {
		t.Fatal("different digests, same summary")
	}
	b.Merge([]Entry{ent(3, 1, 4)})
	if a.Summary() != b.Summary() {
		t.Fatalf("same digests %v / %v, different summaries", a.Digest(), b.Digest())
	}
	a.Forget(3)
	a.Merge([]Entry{ent(3, 2, 0)})
	b.Merge([]Entry{ent(3, 2, 0)})
	if a.Summary() != b.Summary() {
		t.Fatal("summary not maintained across removal")
	}
}

func TestMergeEncoded(t *testing.T) {
	tp := newTopo(t, ent(1, 5, 5), nil)
	tp.AddNeighbor(2)
	b := AppendEntry(AppendEntry(nil, ent(2, 1, 1)), ent(3, 1, 1))
	b = AppendEntry(b, ent(1, 5, 7)) // a stale self
	bad := append(b, WireVersion+1)
	changed, restarted, err := tp.MergeEncoded(2, bad)
	if !errors.Is(err, ErrMalformed) || !slices.Equal(changed, pns(2, 3)) || restarted != nil {
		t.Fatalf("MergeEncoded = %v, %v, %v", changed, restarted, err)
	}
	if p := names(tp.PendingFor(2)); tp.SelfEntry().Version != 8 || !slices.Equal(p, pns(1)) {
		t.Fatalf("self %v, pending for 2 %v: want only our bump (2 sent us the rest)", tp.SelfEntry(), p)
	}
	if changed, _, err := tp.MergeEncoded(0, b); changed != nil || err != nil {
		t.Fatalf("re-merge: %v, %v", changed, err)
	}
	if changed, restarted, _ := tp.MergeEncoded(0, AppendEntry(nil, ent(3, 2, 0))); !slices.Equal(changed, pns(3)) || !slices.Equal(restarted, pns(3)) {
		t.Fatalf("restart via MergeEncoded: %v, %v", changed, restarted)
	}
}
