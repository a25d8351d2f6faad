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
	// registered is the normalised endpoint the control plane gave
	// (link.Peer.Endpoint); cur is the one in use, which starts there and
	// moves where the peer proves it sends from (see learn).
	registered netip.AddrPort
	cur        atomic.Pointer[endpoint]

	name     atomic.Uint64 // frame.PeerName
	lastSeen atomic.Int64  // mono of the last frame received
	lastPong atomic.Int64  // mono of the last heartbeat answer
	lastPing atomic.Int64  // mono of the last heartbeat sent (SendHeartbeats)
	// idleGap is how long after that heartbeat the next is due if the
	// link stays idle and answered: drawn per ping (see pingDue).
	idleGap atomic.Int64
	// firstPing is the mono of the first heartbeat sent since the last
	// answer: while the latest is unanswered, how long the link has been
	// suspect.
	firstPing atomic.Int64
	pingTx    atomic.Uint64 // txFrames when that heartbeat was sent
	rtt       atomic.Int64  // nanoseconds, of that answer
	fastAck   atomic.Int64  // mono of the last fast-path heartbeat answer
	fastRTT   atomic.Int64  // nanoseconds, of that answer
	// heard is the mono of the last heartbeat (ping or pong) received;
	// shared the mono of the last ping received flagged hbFlagHeard (the
	// peer heard us since its previous ping): an exchange that shows the
	// link working both ways, as our own answered ping would.
	heard, shared atomic.Int64
	// ride is the mono of a ping that goes with the next data frames sent
	// to the peer (SendHeartbeats), 0 if none; rideFlags its flags.
	ride      atomic.Int64
	rideFlags atomic.Uint32

	txFrames, txBytes, rxFrames, rxBytes atomic.Uint64
	txErrors                             atomic.Uint64
}

func (p *peer) peerName() frame.PeerName { return frame.PeerName(p.name.Load()) }

// endpoint is a peer's data endpoint, boxed once per change so that the
// data path reads it with one atomic load and no allocation.
type endpoint struct {
	ep   transport.Endpoint
	addr netip.AddrPort // normalised ep.DstAddrPort()
}

func newPeer(name frame.PeerName, ep transport.Endpoint, tr transport.Transport, kind string, encrypted bool) *peer {
	addr := normalise(ep.DstAddrPort())
	p := &peer{tr: tr, kind: kind, encrypted: encrypted, registered: addr}
	p.cur.Store(&endpoint{ep: ep, addr: addr})
	p.name.Store(uint64(name))
	return p
}

// endpoint returns the endpoint frames to p go to.
func (p *peer) endpoint() *endpoint { return p.cur.Load() }

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
	return p.tr == tr && from.IsValid() && from == p.endpoint().addr
}

func normalise(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
