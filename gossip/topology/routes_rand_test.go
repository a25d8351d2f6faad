package topology

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// randomNames returns n distinct random 48-bit peer names.
func randomNames(rng *rand.Rand, n int) []frame.PeerName {
	seen := map[frame.PeerName]bool{}
	out := make([]frame.PeerName, 0, n)
	for len(out) < n {
		p := frame.PeerName(rng.Uint64() & maxPeerName)
		if p != 0 && !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// randomGraph returns the entries of a random connected graph of n peers
// (a random ring plus random links until every degree is ≥ minDeg, never
// above maxDeg), every link established both ways, with realistic
// addresses and capabilities, and the adjacency.
func randomGraph(rng *rand.Rand, n, minDeg, maxDeg int) ([]Entry, map[frame.PeerName][]frame.PeerName) {
	ns := randomNames(rng, n)
	adj := map[frame.PeerName][]frame.PeerName{}
	link := func(a, b frame.PeerName) bool {
		if a == b || slices.Contains(adj[a], b) || len(adj[a]) >= maxDeg || len(adj[b]) >= maxDeg {
			return false
		}
		adj[a], adj[b] = append(adj[a], b), append(adj[b], a)
		return true
	}
	for i := range ns {
		if n > 1 {
			link(ns[i], ns[(i+1)%n])
		}
	}
	for _, a := range ns {
		for tries := 0; len(adj[a]) < minDeg && tries < 100 && n > minDeg; tries++ {
			link(a, ns[rng.IntN(n)])
		}
	}
	es := make([]Entry, n)
	for i, a := range ns {
		es[i] = simEntry(a, adj[a], rng)
	}
	return es, adj
}

func simEntry(a frame.PeerName, nbrs []frame.PeerName, rng *rand.Rand) Entry {
	e := Entry{Name: a, Nickname: fmt.Sprintf("node-%d", uint64(a)%10000), UID: rng.Uint64(), Incarnation: 1767225600_000000000 + rng.Uint64N(1e12), Version: 1,
		Caps: map[string]string{"transport": "sleeve", "wg-pub": fmt.Sprintf("%044x", uint64(a))[:44]}}
	for _, b := range nbrs {
		e.Conns = append(e.Conns, Conn{Peer: b, Addr: fmt.Sprintf("10.%d.%d.%d:6783", byte(b>>16), byte(b>>8), byte(b)), Outbound: a < b, Established: true})
	}
	sortConns(e.Conns)
	return e
}

// messyTopology returns entries with symmetric, one-sided and pending
// links, and peers referenced without an entry.
func messyTopology(rng *rand.Rand) []Entry {
	n := 1 + rng.IntN(25)
	ns := randomNames(rng, n)
	if rng.IntN(2) == 0 { // small names exercise a different order
		for i := range ns {
			ns[i] = pn(i + 1)
		}
	}
	p := rng.Float64() * 0.3
	conns := map[frame.PeerName][]Conn{}
	add := func(a, b frame.PeerName, established bool) {
		conns[a] = append(conns[a], Conn{Peer: b, Established: established})
	}
	for i := range ns {
		for j := i + 1; j < n; j++ {
			if rng.Float64() >= p {
				continue
			}
			a, b := ns[i], ns[j]
			if rng.IntN(2) == 0 {
				a, b = b, a
			}
			switch k := rng.IntN(20); {
			case k < 12:
				add(a, b, true)
				add(b, a, true)
			case k < 15:
				add(a, b, true)
			case k < 18:
				add(a, b, true)
				add(b, a, false)
			default:
				add(a, b, false)
			}
		}
	}
	var es []Entry
	for _, a := range ns {
		if rng.IntN(10) == 0 {
			continue // referenced, but no entry
		}
		e := Entry{Name: a, Incarnation: rng.Uint64N(3), Version: rng.Uint64N(3), Conns: conns[a]}
		sortConns(e.Conns)
		es = append(es, e)
	}
	rng.Shuffle(len(es), func(i, j int) { es[i], es[j] = es[j], es[i] })
	return es
}

// refRoutes is the slow reference: symmetric adjacency, Floyd–Warshall
// distances, and the plain sorted BFS tree.
type refRoutes struct {
	names []frame.PeerName
	idx   map[frame.PeerName]int
	adj   [][]bool
	dist  [][]int
}

const inf = 1 << 30

func newRef(es []Entry) *refRoutes {
	r := &refRoutes{idx: map[frame.PeerName]int{}}
	for _, e := range es {
		r.names = append(r.names, e.Name)
	}
	slices.Sort(r.names)
	for i, p := range r.names {
		r.idx[p] = i
	}
	n := len(r.names)
	lists := func(e Entry, p frame.PeerName) bool {
		for _, c := range e.Conns {
			if c.Peer == p && c.Established {
				return true
			}
		}
		return false
	}
	byName := map[frame.PeerName]Entry{}
	for _, e := range es {
		byName[e.Name] = e
	}
	r.adj, r.dist = make([][]bool, n), make([][]int, n)
	for i := range n {
		r.adj[i], r.dist[i] = make([]bool, n), make([]int, n)
		for j := range n {
			r.adj[i][j] = i != j && lists(byName[r.names[i]], r.names[j]) && lists(byName[r.names[j]], r.names[i])
			r.dist[i][j] = inf
			if i == j {
				r.dist[i][j] = 0
			} else if r.adj[i][j] {
				r.dist[i][j] = 1
			}
		}
	}
	for k := range n {
		for i := range n {
			for j := range n {
				r.dist[i][j] = min(r.dist[i][j], r.dist[i][k]+r.dist[k][j])
			}
		}
	}
	return r
}

// bfsNext is the plain reference of the tie-break rule: next hop per
// destination index, -1 if unreachable.
func (r *refRoutes) bfsNext(self int) []int {
	next := make([]int, len(r.names))
	for i := range next {
		next[i] = -1
	}
	seen := map[int]bool{self: true}
	queue := []int{self}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for v := range r.names { // ascending name order
			if r.adj[u][v] && !seen[v] {
				seen[v] = true
				queue = append(queue, v)
				if u == self {
					next[v] = v
				} else {
					next[v] = next[u]
				}
			}
		}
	}
	return next
}

func TestRoutesDifferential(t *testing.T) {
	rng := newRand(42)
	for iter := range 600 {
		es := messyTopology(rng)
		ref := newRef(es)
		routes := map[frame.PeerName]*Routes{}
		for _, p := range ref.names {
			routes[p] = Compute(p, es)
		}
		for si, self := range ref.names {
			r := routes[self]
			next := ref.bfsNext(si)
			for di, dst := range ref.names {
				hop, ok := r.NextHop(dst)
				reachable := di != si && ref.dist[si][di] < inf
				if ok != reachable {
					t.Fatalf("iter %d: %v→%v: NextHop ok=%v, reference reachable=%v", iter, self, dst, ok, reachable)
				}
				if !ok {
					continue
				}
				hi := ref.idx[hop]
				if !ref.adj[si][hi] || ref.dist[hi][di] != ref.dist[si][di]-1 {
					t.Fatalf("iter %d: %v→%v via %v is not on a shortest path", iter, self, dst, hop)
				}
				if hi != next[di] {
					t.Fatalf("iter %d: %v→%v via %v, reference tie-break says %v", iter, self, dst, hop, ref.names[next[di]])
				}
			}
		}
		for si, src := range ref.names {
			for p, r := range routes {
				for _, q := range r.BroadcastNext(src) {
					if !ref.adj[ref.idx[p]][ref.idx[q]] {
						t.Fatalf("iter %d: %v forwards %v's broadcast to non-neighbour %v", iter, p, src, q)
					}
				}
			}
			got := flood(src, routes)
			for di, dst := range ref.names {
				if want := map[bool]int{true: 1}[ref.dist[si][di] < inf]; got[dst] != want {
					t.Fatalf("iter %d: broadcast from %v reached %v %d times, want %d", iter, src, dst, got[dst], want)
				}
			}
		}
	}
}
