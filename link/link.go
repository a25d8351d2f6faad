package link

import (
	"net/netip"
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
	// Encrypted: the link's data path is encrypted, so it stays off the
	// kernel fast path.
	Encrypted bool
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
	// Unanswered is when the first ping since the last answer went out,
	// while the latest ping is unanswered; zero when it was answered.
	Unanswered time.Time
	// Endpoint is the underlay address the data path sends to: the
	// registered one, or where the peer proved it moved.
	Endpoint netip.AddrPort
}

// Keys are the per-link keys the control handshake derived, for
// transports that encrypt with them (the sleeve). OK is false when the
// handshake derived none (a mesh without a password).
type Keys struct {
	Send, Recv [32]byte
	OK         bool
}

// FastLink is what the data path knows of one direct neighbour for the
// kernel fast path.
type FastLink struct {
	Peer frame.PeerName
	// Addr is the peer's underlay address; invalid if unknown.
	Addr netip.Addr
	// Encrypted: the link is encrypted, so it stays in userspace.
	Encrypted bool
	// LastAck is when a fast-path heartbeat to the peer was last
	// answered; zero if never. RTT is that heartbeat's round trip.
	LastAck time.Time
	RTT     time.Duration
}

// FastTarget is one peer to probe over the kernel fast path.
type FastTarget struct {
	Peer frame.PeerName
	MAC  frame.MAC // the peer's heartbeat MAC
}
