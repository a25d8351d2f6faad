package router

import (
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
)

type routesBox struct {
	r    link.Routes
	from broadcastFrom // r, if it knows where broadcasts come from; else nil
}

// broadcastFrom is implemented by routes that know which neighbour a
// flooded frame of each source should arrive from (this peer's parent in
// the source's broadcast tree). The receive path drops a flooded frame
// that arrives from another neighbour: while peers disagree on the
// topology, two neighbours may both forward one flood here, and only one
// copy may be delivered.
type broadcastFrom interface {
	BroadcastFrom(src frame.PeerName) (frame.PeerName, bool)
}

// onTree reports whether a flooded frame from src that arrived from via
// should be taken: always without such routes or when the routes expect
// nothing in particular (src unknown or unreachable in this peer's view).
func (b *routesBox) onTree(src, via frame.PeerName) bool {
	if b == nil || b.from == nil {
		return true
	}
	p, ok := b.from.BroadcastFrom(src)
	return !ok || p == via
}

// SetRoutes installs the routes used from now on; with nil (before the
// control plane computed any) a flood goes to every neighbour and nothing
// is relayed.
func (r *Router) SetRoutes(rt link.Routes) {
	if rt == nil {
		r.routes.Store(nil)
		return
	}
	from, _ := rt.(broadcastFrom)
	r.routes.Store(&routesBox{r: rt, from: from})
}

// SetPeers replaces the neighbours with links (the control plane's
// connected neighbours). Counters of neighbours that remain on the same
// transport and address are kept. Frames from anyone else, and frames
// naming a neighbour that come from another endpoint or transport than
// its link's, are dropped, unless the peer proves it sent them (see
// learn).
func (r *Router) SetPeers(links []link.Peer) {
	r.peers.Lock()
	defer r.peers.Unlock()
	t := r.peers.table.Load()
	list := make([]*peer, 0, len(links))
	for _, l := range links {
		addr := normalise(l.Endpoint.DstAddrPort())
		tr := l.Transport
		if tr == nil {
			tr = r.cfg.Transport
		}
		var p *peer
		if slot, ok := t.byName[l.Name]; ok && t.list[slot].tr == tr && t.list[slot].registered == addr && t.list[slot].encrypted == l.Encrypted {
			// Same link: keep its counters and the endpoint it moved to,
			// which the transport may have been given again with the
			// link's keys.
			p = t.list[slot]
			if cur := p.endpoint(); cur.addr != addr && !r.tellMoved(p, l.Name, cur.addr) {
				p.cur.Store(&endpoint{ep: l.Endpoint, addr: addr})
			}
		} else {
			p = newPeer(l.Name, l.Endpoint, tr, l.Kind, l.Encrypted)
		}
		list = append(list, p)
	}
	r.peers.table.Store(newPeerTable(list))
}
