package link

import (
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Peer is a neighbour's data-path endpoint, as the control plane
// established it.
type Peer struct {
	Name     frame.PeerName
	Endpoint transport.Endpoint
	// Transport carries this link; nil means the data path's default
	// transport. The data path must have been given it.
	Transport transport.Transport
	// Kind names the link's transport (sleeve, wireguard, quic), for
	// status and metrics.
	Kind string
}

// Routes tells the data path where frames go in a partially connected
// mesh. The control plane computes it (every peer the same way) and hands
// it to the data path; implementations must be immutable and safe for
// concurrent use, and their lookups must not allocate.
type Routes interface {
	// NextHop returns the neighbour to send a frame for dst to.
	NextHop(dst frame.PeerName) (frame.PeerName, bool)
	// BroadcastNext returns the neighbours this peer forwards a broadcast
	// originated by src to (its children in src's broadcast tree).
	BroadcastNext(src frame.PeerName) []frame.PeerName
}

// Health is what the data path knows of a neighbour's link from its
// heartbeats.
type Health struct {
	LastPong time.Time     // zero: never answered
	RTT      time.Duration // of the last answered ping
}

// Keys are the per-link keys the control handshake derived, for
// transports that encrypt with them (the sleeve). OK is false when the
// handshake derived none (a mesh without a password).
type Keys struct {
	Send, Recv [32]byte
	OK         bool
}
