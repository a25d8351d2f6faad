package topology

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestMergeConverges: whatever the order, batching and duplication of
// deliveries, and whatever pairwise gossip happens, every peer ends with
// the same entries: the newest of each name.
func TestMergeConverges(t *testing.T) {
	rng := newRand(11)
	for iter := range 100 {
		var pool []Entry
		for p := 5; p <= 8; p++ {
			for range 6 {
				pool = append(pool, poolEntry(p, 1+rng.Uint64N(3), rng.Uint64N(5)))
			}
		}
		tps := make([]*Topology, 4)
		for i := range tps {
			tps[i] = newTopo(t, ent(i+1, 1, 1), nil)
			for j := range tps {
				if j != i {
					tps[i].AddNeighbor(pn(j + 1))
				}
			}
		}
		for _, tp := range tps { // arbitrary interleavings, with repeats
			order := append(slices.Clone(pool), pool[:rng.IntN(len(pool))]...)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for len(order) > 0 {
				k := 1 + rng.IntN(len(order))
				tp.Merge(slices.Clone(order[:k]))
				order = order[k:]
			}
		}
		for range 50 { // random pairwise gossip until everybody agrees
			a, b := tps[rng.IntN(4)], tps[rng.IntN(4)]
			if a == b {
				continue
			}
			p := a.PendingFor(b.Self())
			a.Sent(b.Self(), p)
			b.MergeFrom(a.Self(), slices.Clone(p))
		}
		for _, a := range tps { // then anti-entropy to finish
			for _, b := range tps {
				theyNeed, _ := a.Missing(b.Digest())
				b.Merge(theyNeed)
			}
		}
		want := tps[0].Entries()
		for i, tp := range tps {
			if diff := cmp.Diff(want, tp.Entries(), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("iter %d: peer %d differs (-0 +%d):\n%s", iter, i+1, i+1, diff)
			}
			if changed, _ := tp.Merge(slices.Clone(pool)); changed != nil {
				t.Fatalf("iter %d: re-merge not idempotent: %v", iter, changed)
			}
		}
		for _, e := range want {
			for _, pe := range pool {
				if pe.Name == e.Name && pe.Validate() == nil && Compare(pe, e) > 0 {
					t.Fatalf("iter %d: kept %v although %v is newer", iter, e, pe)
				}
			}
		}
	}
}
