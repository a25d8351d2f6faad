package topology

import "github.com/weave-switch/weave-switch/frame"

// BroadcastNext returns the peers we forward a broadcast originated by
// src to: our children in src's broadcast tree (for src == Self(), all our
// neighbours). Since every peer computes the same tree for src, the union
// over all peers is a spanning tree of src's component and every reachable
// peer receives the broadcast exactly once (while peers still disagree on
// the topology, a broadcast may be duplicated or missed, as in Weave:
// broadcasts are best effort). It returns nil if src is
// unknown or unreachable. The slice is shared and read-only. The first
// call per src runs one BFS; later calls only look it up (no allocation).
func (r *Routes) BroadcastNext(src frame.PeerName) []frame.PeerName {
	if t := r.tree(src); t != nil {
		return t.children
	}
	return nil
}

// BroadcastFrom returns the neighbour a broadcast originated by src
// reaches us from: our parent in src's broadcast tree. It returns false
// for ourselves and for a src that is unknown or unreachable. While peers
// disagree on the topology, two neighbours may each believe they are our
// parent in src's tree; accepting src's broadcasts only from this one
// keeps them from being delivered here twice. Like BroadcastNext, it
// allocates only on the first call per src.
func (r *Routes) BroadcastFrom(src frame.PeerName) (frame.PeerName, bool) {
	t := r.tree(src)
	if t == nil || t.parent == frame.UnknownPeer {
		return frame.UnknownPeer, false
	}
	return t.parent, true
}

// bcastTree is our place in one source's broadcast tree.
type bcastTree struct {
	children []frame.PeerName
	parent   frame.PeerName // UnknownPeer: we are the source, or unreached
}

// tree returns our place in src's broadcast tree, computing and caching
// it on first use; nil if src or we are unknown.
func (r *Routes) tree(src frame.PeerName) *bcastTree {
	i, ok := r.index[src]
	if !ok || r.selfIdx < 0 {
		return nil
	}
	if p := r.bcast[i].Load(); p != nil {
		return p
	}
	t := r.place(i)
	r.bcast[i].Store(t)
	return t
}

// place runs src's BFS until we have been processed: the peers we
// discovered then are our children in src's tree, and the peer that
// discovered us our parent.
func (r *Routes) place(src int32) *bcastTree {
	t := &bcastTree{parent: frame.UnknownPeer}
	r.bfs(src, r.selfIdx, func(parent, v int32) {
		if parent == r.selfIdx {
			t.children = append(t.children, r.names[v])
		}
		if v == r.selfIdx {
			t.parent = r.names[parent]
		}
	})
	return t
}
