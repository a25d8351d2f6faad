package router

import (
	"net/netip"
	"sync/atomic"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// peer is one remote router as the data path sees it. The struct is shared
// by successive peerTable snapshots, so everything that changes is atomic.
type peer struct {
	tr   transport.Transport // the link's transport
	kind string              // its name, for status and metrics
	// encrypted: the link's data path is encrypted.
	encrypted bool
	ep        transport.Endpoint
	addr      netip.AddrPort // normalised ep.DstAddrPort()

	name     atomic.Uint64 // frame.PeerName
	lastSeen atomic.Int64  // unix nanoseconds of the last frame received
	lastPong atomic.Int64  // unix nanoseconds of the last heartbeat answer
	rtt      atomic.Int64  // nanoseconds, of that answer
	fastAck  atomic.Int64  // unix nanoseconds of the last fast-path heartbeat answer
	fastRTT  atomic.Int64  // nanoseconds, of that answer

	txFrames, txBytes, rxFrames, rxBytes atomic.Uint64
	txErrors                             atomic.Uint64
}

func (p *peer) peerName() frame.PeerName { return frame.PeerName(p.name.Load()) }

// peerTable is an immutable snapshot of the known peers. list is in a
// stable order (the order peers became known), which is also the order
// frames are flooded in.
type peerTable struct {
	list   []*peer
	byName map[frame.PeerName]int
}

func newPeerTable(list []*peer) *peerTable {
	t := &peerTable{
		list:   list,
		byName: make(map[frame.PeerName]int, len(list)),
	}
	for i, p := range list {
		if n := p.peerName(); n != frame.UnknownPeer {
			t.byName[n] = i
		}
	}
	return t
}

// admits reports whether a frame (or heartbeat) received on transport tr
// from underlay address from (normalised) may speak for p: only on p's
// link transport, and only from the endpoint the control plane registered
// for p there. The sleeve reports a datagram's source address; WireGuard
// and QUIC authenticate the peer themselves and report the endpoint
// registered for it in that transport, which is p's. A relayed frame comes
// from the relaying neighbour, which is its Meta.Via. This is the one
// place that decides which underlay sender speaks for a neighbour.
func (p *peer) admits(tr transport.Transport, from netip.AddrPort) bool {
	return p.tr == tr && from.IsValid() && from == p.addr
}

func normalise(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
