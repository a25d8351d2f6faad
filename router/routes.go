package router

import "github.com/weave-switch/weave-switch/link"

type routesBox struct{ r link.Routes }

// SetRoutes installs the routes used from now on; with nil (before the
// control plane computed any) a flood goes to every neighbour and nothing
// is relayed.
func (r *Router) SetRoutes(rt link.Routes) {
	if rt == nil {
		r.routes.Store(nil)
		return
	}
	r.routes.Store(&routesBox{rt})
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
