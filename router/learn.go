package router

import (
	"log/slog"
	"net/netip"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Endpoint learning. A neighbour behind NAT sends from an address:port its
// NAT chose, not the one the control plane registered for it (its
// control connection's IP and the port it announced), and the NAT may
// choose another one at any time (a mapping expired, the NAT rebooted).
// The data path follows it, but only on proof:
//
//   - A frame the transport authenticated as the neighbour's (the
//     sleeve opened its datagram with the key only that neighbour shares
//     with this router: frame.Meta.Authenticated) moves the neighbour's
//     endpoint to the frame's source address:port, whatever it is. The
//     sleeve's replay window has already refused a copy of a datagram
//     seen before, so a sniffed datagram sent again from elsewhere moves
//     nothing.
//   - On a link without authentication (a mesh without a secret), a
//     heartbeat from the IP address of the neighbour's control connection
//     moves its endpoint to that heartbeat's port: the address is what
//     the control plane saw, the port what the NAT chose. Anything from
//     another IP address is still refused (wrong_source).
//
// WireGuard and QUIC report a neighbour's frames with its registered
// endpoint, whatever the source (they authenticate and follow the peer
// themselves), so they never need this.

// endpointMover is implemented by transports that keep per-peer state
// under the peer's endpoint (the sleeve's send keys): the router tells it
// where a peer moved, before sending there.
type endpointMover interface {
	MoveEndpoint(peer frame.PeerName, to netip.AddrPort) error
}

// learn decides whether frame f (its Meta.Authenticated is auth),
// received on tr from ep, which names neighbour p but does not come from
// p's endpoint, proves that p moved there; if it does, p's endpoint moves
// and learn returns true.
func (r *Router) learn(p *peer, tr transport.Transport, ep transport.Endpoint, auth bool, f []byte) bool {
	if p.tr != tr || ep == nil {
		return false
	}
	from := normalise(ep.DstAddrPort())
	if !from.IsValid() || from.Port() == 0 {
		return false
	}
	if !auth && (p.encrypted || from.Addr() != p.registered.Addr() || !isHeartbeat(f)) {
		return false
	}
	return r.move(p, ep, from)
}

// move makes ep (from, normalised) p's endpoint, telling p's transport
// first; it returns false if the transport refused.
func (r *Router) move(p *peer, ep transport.Endpoint, from netip.AddrPort) bool {
	r.peers.Lock()
	defer r.peers.Unlock()
	old := p.endpoint()
	if old.addr == from {
		return true
	}
	name := p.peerName()
	if !r.tellMoved(p, name, from) {
		return false
	}
	p.cur.Store(&endpoint{ep: ep, addr: from})
	r.counters.endpointMoves.Add(1)
	r.moveLog.Log(slog.LevelInfo, "peer's endpoint moved", "peer", name.String(), "from", old.addr.String(), "to", from.String(), "registered", p.registered.String())
	return true
}

// tellMoved tells p's transport, if it keeps state by endpoint, that p
// (named name) sends and receives at to. Callers hold r.peers.
func (r *Router) tellMoved(p *peer, name frame.PeerName, to netip.AddrPort) bool {
	m, ok := p.tr.(endpointMover)
	if !ok {
		return true
	}
	if err := m.MoveEndpoint(name, to); err != nil {
		r.moveLog.Log(slog.LevelWarn, "transport refused a peer's new endpoint", "peer", name.String(), "to", to.String(), "err", err)
		return false
	}
	return true
}
