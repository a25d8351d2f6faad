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

// SetRoutes installs the routes used from now on; nil returns to the
// static full-mesh behaviour (flood to every peer, relay nothing).
func (r *Router) SetRoutes(rt Routes) {
	if rt == nil {
		r.routes.Store(nil)
		return
	}
	r.routes.Store(&routesBox{rt})
}

// SetPeers replaces the dynamic peers with links (the control plane's
// established neighbours). Static peers configured at start stay, named
// when a link has their address. Counters of peers that remain are kept.
func (r *Router) SetPeers(links []PeerLink) {
	r.peers.Lock()
	defer r.peers.Unlock()
	t := r.peers.table.Load()
	byName := make(map[frame.PeerName]*peer, len(t.list))
	byAddr := make(map[string]*peer, len(t.list))
	for _, p := range t.list {
		if n := p.peerName(); n != frame.UnknownPeer {
			byName[n] = p
		}
		byAddr[p.addr.String()] = p
	}
	var list []*peer
	used := map[*peer]bool{}
	for _, l := range links {
		addr := normalise(l.Endpoint.DstAddrPort())
		tr := l.Transport
		if tr == nil {
			tr = r.cfg.Transport
		}
		p := byName[l.Name]
		if p != nil && p.tr != tr {
			p = nil // the link changed transport: fresh counters
		}
		if p == nil || p.addr != addr {
			if q := byAddr[addr.String()]; q != nil && !used[q] && q.tr == tr && (q.peerName() == frame.UnknownPeer || q.peerName() == l.Name) {
				p = q
			} else {
				p = &peer{ep: l.Endpoint, addr: addr, tr: tr}
			}
		}
		p.name.Store(uint64(l.Name))
		used[p] = true
		list = append(list, p)
	}
	for _, p := range t.list {
		if p.static && !used[p] {
			q := &peer{ep: p.ep, addr: p.addr, static: true, tr: p.tr}
			list = append(list, q)
		}
	}
	r.peers.table.Store(newPeerTable(list))
}
