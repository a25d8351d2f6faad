package router

import (
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Routes tells the data path where frames go in a partially connected
// mesh. The control plane computes it (every peer the same way) and swaps
// it in with SetRoutes; implementations must be immutable and safe for
// concurrent use, and their lookups must not allocate.
type Routes interface {
	// NextHop returns the neighbour to send a frame for dst to.
	NextHop(dst frame.PeerName) (frame.PeerName, bool)
	// BroadcastNext returns the neighbours this peer forwards a broadcast
	// originated by src to (its children in src's broadcast tree).
	BroadcastNext(src frame.PeerName) []frame.PeerName
}

// PeerLink is a neighbour's data-path endpoint, as the control plane
// established it.
type PeerLink struct {
	Name     frame.PeerName
	Endpoint transport.Endpoint
	// Transport carries this link; nil means Config.Transport. It must be
	// Config.Transport or one of Config.Extra.
	Transport transport.Transport
}

type routesBox struct{ r Routes }

// SetRoutes installs the routes used from now on; with nil (before the
// control plane computed any) a flood goes to every neighbour and nothing
// is relayed.
func (r *Router) SetRoutes(rt Routes) {
	if rt == nil {
		r.routes.Store(nil)
		return
	}
	r.routes.Store(&routesBox{rt})
}

// SetPeers replaces the neighbours with links (the control plane's
// connected neighbours). Counters of neighbours that remain on the same
// transport and address are kept. Frames from anyone else are dropped.
func (r *Router) SetPeers(links []PeerLink) {
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
		if slot, ok := t.byName[l.Name]; ok && t.list[slot].tr == tr && t.list[slot].addr == addr {
			p = t.list[slot] // same link: keep its counters
		} else {
			p = &peer{ep: l.Endpoint, addr: addr, tr: tr}
			p.name.Store(uint64(l.Name))
		}
		list = append(list, p)
	}
	r.peers.table.Store(newPeerTable(list))
}
