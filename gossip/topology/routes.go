package topology

import (
	"cmp"
	"slices"
	"sync/atomic"

	"github.com/weave-switch/weave-switch/frame"
)

// CapRelay, in an entry's Caps, marks a peer that relays for others (a
// site every other one can reach): routes prefer it among equally short
// paths, so peers with no direct link between them (both behind NAT)
// meet through it.
const CapRelay = "relay"

// Routes is an immutable routing snapshot computed from a set of entries
// by Compute. Every peer computing from the same entries gets the same
// trees, so unicast paths agree hop by hop and a broadcast reaches every
// reachable peer exactly once. A Routes is safe for concurrent use;
// NextHop and BroadcastNext allocate nothing once a source's broadcast
// tree is cached.
type Routes struct {
	self    frame.PeerName
	selfIdx int32 // -1 if self has no entry
	names   []frame.PeerName
	index   map[frame.PeerName]int32
	adjOff  []int32 // the neighbours of i are adj[adjOff[i]:adjOff[i+1]], relays first, then ascending
	adj     []int32
	next    []int32 // unicast next hop of each peer; -1 if unreachable or self

	// bcast[i] caches our place in peer i's broadcast tree, computed
	// on first use (one BFS, O(peers+links): ~20 µs at 1000 peers, so
	// precomputing every source would cost ~20 ms per topology change
	// while a router typically floods from few sources). A slice indexed
	// like names avoids sync.Map, which would box the PeerName key and
	// allocate on every lookup. Concurrent first uses may both compute;
	// they store identical results.
	bcast []atomic.Pointer[bcastTree]
}

// Compute returns the routes of self over entries (any order; invalid
// entries are ignored, and of duplicate names the newest wins). A link
// A–B counts only if A lists B as established and B lists A as
// established. Unicast follows the breadth-first tree from self that
// visits neighbours relays first (entries with CapRelay), then in
// ascending PeerName order (first discovery wins), so paths are shortest
// in hops, go through a relay where one gives a shortest path, and ties
// break the same way everywhere. The broadcast tree of source S is the
// same rule applied from S.
func Compute(self frame.PeerName, entries []Entry) *Routes {
	es := make([]*Entry, 0, len(entries))
	for i := range entries {
		if entries[i].Validate() == nil {
			es = append(es, &entries[i])
		}
	}
	slices.SortFunc(es, func(a, b *Entry) int {
		if c := cmp.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return -a.stamp().cmp(b.stamp())
	})
	es = slices.CompactFunc(es, func(a, b *Entry) bool { return a.Name == b.Name })
	n := len(es)
	r := &Routes{
		self: self, selfIdx: -1,
		names:  make([]frame.PeerName, n),
		index:  make(map[frame.PeerName]int32, n),
		adjOff: make([]int32, n+1),
		next:   make([]int32, n),
		bcast:  make([]atomic.Pointer[bcastTree], n),
	}
	for i, e := range es {
		r.names[i] = e.Name
		r.index[e.Name] = int32(i)
	}
	relay := make([]bool, n)
	for i, e := range es {
		relay[i] = e.Caps[CapRelay] != ""
	}
	for i, e := range es {
		r.adjOff[i] = int32(len(r.adj))
		for _, c := range e.Conns { // ascending Peer, hence ascending index
			if j, ok := r.index[c.Peer]; ok && c.Established && es[j].Established(e.Name) {
				r.adj = append(r.adj, j)
			}
		}
		slices.SortStableFunc(r.adj[r.adjOff[i]:], func(a, b int32) int {
			switch {
			case relay[a] && !relay[b]:
				return -1
			case relay[b] && !relay[a]:
				return 1
			}
			return 0
		})
	}
	r.adjOff[n] = int32(len(r.adj))
	for i := range r.next {
		r.next[i] = -1
	}
	if i, ok := r.index[self]; ok {
		r.selfIdx = i
		r.bfs(i, -1, func(parent, v int32) {
			if parent == i {
				r.next[v] = v
			} else {
				r.next[v] = r.next[parent]
			}
		})
	}
	return r
}

// bfs runs the deterministic breadth-first search from src, calling
// visit(parent, v) for every newly discovered v, and stops once the node
// stopAfter (if any) has been processed.
func (r *Routes) bfs(src, stopAfter int32, visit func(parent, v int32)) {
	seen := make([]bool, len(r.names))
	queue := make([]int32, 1, len(r.names))
	queue[0] = src
	seen[src] = true
	for h := 0; h < len(queue); h++ {
		u := queue[h]
		for _, v := range r.adj[r.adjOff[u]:r.adjOff[u+1]] {
			if !seen[v] {
				seen[v] = true
				queue = append(queue, v)
				visit(u, v)
			}
		}
		if u == stopAfter {
			return
		}
	}
}

// Self returns the peer the routes were computed for.
func (r *Routes) Self() frame.PeerName { return r.self }

// NextHop returns the neighbour to send a frame for dst to, and whether
// dst is reachable. It returns false for ourselves.
func (r *Routes) NextHop(dst frame.PeerName) (frame.PeerName, bool) {
	i, ok := r.index[dst]
	if !ok || r.next[i] < 0 {
		return frame.UnknownPeer, false
	}
	return r.names[r.next[i]], true
}

// Reachable reports whether p is ourselves or reachable over
// symmetric established links.
func (r *Routes) Reachable(p frame.PeerName) bool {
	if p == r.self {
		return true
	}
	i, ok := r.index[p]
	return ok && r.next[i] >= 0
}

// Peers returns every peer with an entry, in ascending order (a new slice).
func (r *Routes) Peers() []frame.PeerName { return slices.Clone(r.names) }

// Equal reports whether r and o route identically: same self, same peers
// and same symmetric established links. Callers can skip invalidating
// flows when a recomputation changed nothing.
func (r *Routes) Equal(o *Routes) bool {
	return r.self == o.self && slices.Equal(r.names, o.names) &&
		slices.Equal(r.adjOff, o.adjOff) && slices.Equal(r.adj, o.adj)
}
