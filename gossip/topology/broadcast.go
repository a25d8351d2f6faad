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
	i, ok := r.index[src]
	if !ok || r.selfIdx < 0 {
		return nil
	}
	if p := r.bcast[i].Load(); p != nil {
		return *p
	}
	c := r.children(i)
	r.bcast[i].Store(&c)
	return c
}

// children runs src's BFS until we have been processed: the peers we
// discovered then are our children in src's tree.
func (r *Routes) children(src int32) []frame.PeerName {
	var out []frame.PeerName
	r.bfs(src, r.selfIdx, func(parent, v int32) {
		if parent == r.selfIdx {
			out = append(out, r.names[v])
		}
	})
	return out
}
