package topology

import (
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func pendingNames(tp *Topology, nb frame.PeerName) []frame.PeerName {
	return names(tp.PendingFor(nb))
}

func TestDeltas(t *testing.T) {
	tp := newTopo(t, ent(1, 1, 1, est(2), est(3)), nil)
	tp.Merge([]Entry{ent(4, 1, 1), ent(5, 1, 1)})
	tp.AddNeighbor(2)
	tp.AddNeighbor(1) // ourselves: ignored
	if got := pendingNames(tp, 2); !slices.Equal(got, pns(1, 4, 5)) {
		t.Fatalf("new neighbour pending %v, want full state", got)
	}
	if tp.PendingFor(1) != nil || tp.PendingFor(9) != nil {
		t.Fatal("pending for a non-neighbour")
	}
	tp.Sent(2, tp.PendingFor(2))
	if got := tp.PendingFor(2); got != nil {
		t.Fatalf("pending after Sent: %v", got)
	}
	tp.AddNeighbor(3)
	tp.KnownBy(3, []DigestItem{{4, 1, 1}, {1, 1, 1}, {5, 1, 0}}) // unsorted on purpose
	if got := pendingNames(tp, 3); !slices.Equal(got, pns(5)) {
		t.Fatalf("after digest, pending for 3 = %v, want [5]", got)
	}
	tp.Sent(3, tp.PendingFor(3))

	// A change received from 2 goes to 3 only; our own change goes to both.
	tp.MergeFrom(2, []Entry{ent(4, 1, 2)})
	if p2, p3 := pendingNames(tp, 2), pendingNames(tp, 3); p2 != nil || !slices.Equal(p3, pns(4)) {
		t.Fatalf("after MergeFrom(2): pending 2 %v, 3 %v", p2, p3)
	}
	tp.SetSelf([]Conn{est(2)}, nil)
	if p2, p3 := pendingNames(tp, 2), pendingNames(tp, 3); !slices.Equal(p2, pns(1)) || !slices.Equal(p3, pns(1, 4)) {
		t.Fatalf("after SetSelf: pending 2 %v, 3 %v", p2, p3)
	}
	// A stale entry from 3 tells us what 3 has, without changing ours.
	tp.MergeFrom(3, []Entry{ent(4, 1, 2)})
	if p3 := pendingNames(tp, 3); !slices.Equal(p3, pns(1)) {
		t.Fatalf("after 3 sent us 4.2: pending 3 %v", p3)
	}
	// A lost message is repaired by the next digest.
	tp.Sent(3, tp.PendingFor(3))
	tp.KnownBy(3, []DigestItem{{1, 1, 1}, {4, 1, 2}, {5, 1, 1}})
	if p3 := pendingNames(tp, 3); !slices.Equal(p3, pns(1)) {
		t.Fatalf("after digest showing a lost update: pending 3 %v", p3)
	}
	// A removed peer is no longer pending; a neighbour removal drops state.
	tp.Merge([]Entry{ent(5, 1, 2)})
	tp.Forget(5)
	if p2 := pendingNames(tp, 2); !slices.Equal(p2, pns(1)) {
		t.Fatalf("forgotten peer still pending: %v", p2)
	}
	checkInvariants(t, tp)
	tp.RemoveNeighbor(3)
	if !slices.Equal(tp.Neighbors(), pns(2)) || tp.PendingFor(3) != nil {
		t.Fatalf("neighbours %v", tp.Neighbors())
	}
}

func TestMissing(t *testing.T) {
	tp := newTopo(t, ent(1, 1, 5), nil)
	tp.Merge([]Entry{ent(2, 1, 1), ent(3, 2, 0), ent(4, 1, 1)})
	tests := []struct {
		name     string
		remote   []DigestItem
		theyNeed []frame.PeerName
		weNeed   []frame.PeerName
	}{
		{"empty remote", nil, pns(1, 2, 3, 4), nil},
		{"identical", tp.Digest(), nil, nil},
		{"they are behind and ahead", []DigestItem{{1, 1, 5}, {2, 1, 2}, {3, 1, 9}, {4, 1, 1}, {7, 1, 1}}, pns(3), pns(2, 7)},
		{"stale self of ours", []DigestItem{{1, 1, 6}, {2, 1, 1}, {3, 2, 0}, {4, 1, 1}}, nil, pns(1)},
		{"zero name ignored", []DigestItem{{0, 1, 1}, {1, 1, 5}, {2, 1, 1}, {3, 2, 0}, {4, 1, 1}}, nil, nil},
		{"duplicates: newest counts", []DigestItem{{2, 1, 0}, {2, 1, 3}, {1, 1, 5}, {3, 2, 0}, {4, 1, 1}}, nil, pns(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			theyNeed, weNeed := tp.Missing(tt.remote)
			if !slices.Equal(names(theyNeed), tt.theyNeed) || !slices.Equal(weNeed, tt.weNeed) {
				t.Fatalf("Missing = %v, %v; want %v, %v", names(theyNeed), weNeed, tt.theyNeed, tt.weNeed)
			}
		})
	}
}

// TestHasPending: HasPending agrees with PendingFor over all neighbours,
// including after Sent (the queue still holds the sent slots until the
// next PendingFor) and without changing what PendingFor returns.
func TestHasPending(t *testing.T) {
	tp := newTopo(t, ent(1, 1, 1, est(2)), nil)
	if tp.HasPending() {
		t.Fatal("pending with no neighbours")
	}
	tp.AddNeighbor(2)
	if !tp.HasPending() {
		t.Fatal("new neighbour: nothing pending")
	}
	if !tp.HasPending() || len(tp.PendingFor(2)) == 0 {
		t.Fatal("HasPending consumed the queue")
	}
	tp.Sent(2, tp.PendingFor(2))
	if tp.HasPending() {
		t.Fatal("pending after Sent")
	}
	tp.Merge([]Entry{ent(4, 1, 1)})
	if !tp.HasPending() {
		t.Fatal("new entry not pending")
	}
	tp.Sent(2, tp.PendingFor(2))
	tp.PendingFor(2)
	if tp.HasPending() {
		t.Fatal("pending after Sent and PendingFor")
	}
}
