package topology

import (
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// The seed's picture: 1–2, 1–3, 3–4, 3–5.
var seedEdges = [][2]int{{1, 2}, {1, 3}, {3, 4}, {3, 5}}

func TestRoutesUnicast(t *testing.T) {
	asym := graph(5, seedEdges)
	asym[1].Conns = append(asym[1].Conns, est(4)) // 2 claims 2–4, 4 does not
	sortConns(asym[1].Conns)
	pending := graph(5, seedEdges)
	pending[0].Conns[1].Established = false // 1 sees 1–3 still pending
	tests := []struct {
		name    string
		entries []Entry
		self    int
		want    map[int]int // dst → next hop; absent = unreachable
	}{
		{"seed from 1", graph(5, seedEdges), 1, map[int]int{2: 2, 3: 3, 4: 3, 5: 3}},
		{"seed from 4", graph(5, seedEdges), 4, map[int]int{1: 3, 2: 3, 3: 3, 5: 3}},
		{"asymmetric edge ignored", asym, 2, map[int]int{1: 1, 3: 1, 4: 1, 5: 1}},
		{"half-established edge ignored", pending, 1, map[int]int{2: 2}},
		{"tie broken by lowest name", graph(4, [][2]int{{1, 3}, {1, 2}, {2, 4}, {3, 4}}), 1, map[int]int{2: 2, 3: 3, 4: 2}},
		{"peer without entry unreachable", graph(5, seedEdges)[1:], 3, map[int]int{4: 4, 5: 5}},
		{"self without entry", graph(5, seedEdges), 9, map[int]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Compute(pn(tt.self), tt.entries)
			for dst := 1; dst <= 9; dst++ {
				hop, ok := r.NextHop(pn(dst))
				want, wantOK := tt.want[dst]
				if ok != wantOK || ok && hop != pn(want) {
					t.Errorf("NextHop(%d) = %v, %v; want %d, %v", dst, hop, ok, want, wantOK)
				}
				if r.Reachable(pn(dst)) != (wantOK || dst == tt.self) {
					t.Errorf("Reachable(%d) = %v", dst, r.Reachable(pn(dst)))
				}
			}
		})
	}
}

func TestRoutesBroadcastSeed(t *testing.T) {
	es := graph(5, seedEdges)
	routes := map[frame.PeerName]*Routes{}
	for i := 1; i <= 5; i++ {
		routes[pn(i)] = Compute(pn(i), es)
	}
	if got := routes[1].BroadcastNext(1); !slices.Equal(got, pns(2, 3)) {
		t.Fatalf("1 floods its own broadcast to %v", got)
	}
	if got := routes[3].BroadcastNext(1); !slices.Equal(got, pns(4, 5)) {
		t.Fatalf("3 relays 1's broadcast to %v", got)
	}
	if got := routes[3].BroadcastNext(4); !slices.Equal(got, pns(1, 5)) {
		t.Fatalf("3 relays 4's broadcast to %v", got)
	}
	for src := 1; src <= 5; src++ {
		got := flood(pn(src), routes)
		for p := 1; p <= 5; p++ {
			if got[pn(p)] != 1 {
				t.Errorf("broadcast from %d reached %d %d times", src, p, got[pn(p)])
			}
		}
	}
	if routes[1].BroadcastNext(9) != nil || Compute(9, es).BroadcastNext(1) != nil {
		t.Fatal("broadcast routes for unknown peers")
	}
}

// TestRoutesBroadcastFrom: each peer's parent in a source's tree is the
// one peer that has it as a child, so a broadcast is accepted from
// exactly the neighbour that sends it.
func TestRoutesBroadcastFrom(t *testing.T) {
	es := graph(5, seedEdges)
	routes := map[frame.PeerName]*Routes{}
	for i := 1; i <= 5; i++ {
		routes[pn(i)] = Compute(pn(i), es)
	}
	for src := 1; src <= 5; src++ {
		for self := 1; self <= 5; self++ {
			from, ok := routes[pn(self)].BroadcastFrom(pn(src))
			if self == src {
				if ok {
					t.Errorf("%d: broadcast of its own from %v", self, from)
				}
				continue
			}
			if !ok || !slices.Contains(routes[from].BroadcastNext(pn(src)), pn(self)) {
				t.Errorf("%d expects %d's broadcast from %v (%v), which does not send it there", self, src, from, ok)
			}
		}
	}
	if from, ok := routes[3].BroadcastFrom(1); !ok || from != 1 {
		t.Errorf("3 expects 1's broadcast from %v, %v; want 1", from, ok)
	}
	if from, ok := routes[5].BroadcastFrom(2); !ok || from != 3 {
		t.Errorf("5 expects 2's broadcast from %v, %v; want 3", from, ok)
	}
	if _, ok := routes[1].BroadcastFrom(9); ok {
		t.Error("a parent in an unknown peer's tree")
	}
	cut := Compute(1, graph(5, seedEdges[:1])) // 1–2 only: 3 unreachable
	if _, ok := cut.BroadcastFrom(3); ok {
		t.Error("a parent in an unreachable peer's tree")
	}
}

func TestRoutesEqual(t *testing.T) {
	a := Compute(1, graph(5, seedEdges))
	es := graph(5, seedEdges)
	es[4].Caps = map[string]string{"x": "y"} // not a routing change
	es[4].Version++
	if !a.Equal(Compute(1, es)) || a.Equal(Compute(2, es)) || a.Equal(Compute(1, graph(5, seedEdges[:3]))) {
		t.Fatal("Equal wrong")
	}
	if !slices.Equal(a.Peers(), pns(1, 2, 3, 4, 5)) || a.Self() != 1 {
		t.Fatal("Peers/Self wrong")
	}
}

func TestRoutesNoAllocs(t *testing.T) {
	r := Compute(1, graph(5, seedEdges))
	for src := 1; src <= 5; src++ {
		r.BroadcastNext(pn(src)) // fill the cache
	}
	allocs := testing.AllocsPerRun(100, func() {
		for p := 1; p <= 6; p++ {
			r.NextHop(pn(p))
			r.BroadcastNext(pn(p))
			r.BroadcastFrom(pn(p))
			r.Reachable(pn(p))
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per lookup round, want 0", allocs)
	}
}

func TestRoutesConcurrent(t *testing.T) {
	es, _ := randomGraph(newRand(1), 200, 4, 8)
	r := Compute(es[0].Name, es)
	want := Compute(es[0].Name, es)
	done := make(chan struct{})
	for g := 0; g < 4; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for _, e := range es {
				r.BroadcastNext(e.Name)
			}
		}()
	}
	for range 4 {
		<-done
	}
	for _, e := range es {
		if !slices.Equal(r.BroadcastNext(e.Name), want.BroadcastNext(e.Name)) {
			t.Fatalf("concurrent cache fill differs for %v", e.Name)
		}
	}
}

func BenchmarkCompute1000(b *testing.B) {
	es, _ := randomGraph(newRand(1), 1000, 4, 8)
	b.ReportAllocs()
	for b.Loop() {
		Compute(es[0].Name, es)
	}
}

func BenchmarkBroadcastAllSources1000(b *testing.B) {
	es, _ := randomGraph(newRand(1), 1000, 4, 8)
	b.ReportAllocs()
	for b.Loop() {
		r := Compute(es[0].Name, es)
		for _, e := range es {
			r.BroadcastNext(e.Name)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	es, _ := randomGraph(newRand(1), 1000, 4, 8)
	r := Compute(es[0].Name, es)
	for _, e := range es {
		r.BroadcastNext(e.Name)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p := es[i%len(es)].Name
		r.NextHop(p)
		r.BroadcastNext(p)
		i++
	}
}

// TestRoutesPreferRelay: of two equally short paths, the one through a
// peer marked CapRelay wins (here 3 over the lower name 2), the same way
// from every peer, broadcast included; a relay never makes a path longer.
func TestRoutesPreferRelay(t *testing.T) {
	edges := [][2]int{{1, 2}, {1, 3}, {2, 4}, {3, 4}, {1, 5}}
	es := graph(5, edges)
	if hop, _ := Compute(pn(1), es).NextHop(pn(4)); hop != pn(2) {
		t.Fatalf("without a relay 1 reaches 4 via %v, want 2 (lowest name)", hop)
	}
	es[2].Caps = map[string]string{CapRelay: "1"}
	if hop, _ := Compute(pn(1), es).NextHop(pn(4)); hop != pn(3) {
		t.Errorf("1 reaches 4 via %v, want the relay 3", hop)
	}
	if hop, _ := Compute(pn(4), es).NextHop(pn(1)); hop != pn(3) {
		t.Errorf("4 reaches 1 via %v, want the relay 3", hop)
	}
	if hop, _ := Compute(pn(1), es).NextHop(pn(5)); hop != pn(5) {
		t.Errorf("1 reaches its neighbour 5 via %v", hop)
	}
	routes := map[frame.PeerName]*Routes{}
	for i := 1; i <= 5; i++ {
		routes[pn(i)] = Compute(pn(i), es)
	}
	for src := 1; src <= 5; src++ {
		got := flood(pn(src), routes)
		if len(got) != 5 {
			t.Errorf("a broadcast from %d reaches %d peers, want 5", src, len(got))
		}
		for p, n := range got {
			if n != 1 {
				t.Errorf("a broadcast from %d reaches %v %d times", src, p, n)
			}
		}
	}
}
