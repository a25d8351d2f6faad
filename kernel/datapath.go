package kernel

import (
	"hash/fnv"
	"log/slog"
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Datapath is one kernel fast-path backend. See the package documentation
// for the contract.
type Datapath interface {
	// Name is the backend's name: "userspace", "vxlan" or "ovs".
	Name() string
	// Update makes the kernel state match v: it installs what v allows
	// and removes what v invalidates (relative to the last applied View
	// and to what it finds in the kernel). It is called from one
	// goroutine; v is never modified afterwards.
	Update(v *View) error
	// Stats returns the backend's counters.
	Stats() Stats
	// Entries lists the state installed for the current View (for
	// status), sorted by peer then MAC.
	Entries() []Entry
	// Close removes every kernel object and entry the backend created. It
	// is idempotent.
	Close() error
}

// UsageReporter is implemented by backends that know when the kernel
// last carried traffic to each offloaded MAC. The router refreshes those
// MACs in its switch, which never sees that traffic, so that a MAC in use
// does not age out of the switch (and then out of the kernel).
type UsageReporter interface {
	Used() map[frame.MAC]time.Time
}

// LinkState is how far the fast path towards one peer may be used.
type LinkState uint8

const (
	// LinkOff: never use the fast path towards this peer.
	LinkOff LinkState = iota
	// LinkProbe: carry only heartbeats to the peer's heartbeat MAC.
	LinkProbe
	// LinkUp: heartbeats answered; offload every MAC on the peer.
	LinkUp
)

var linkStateNames = [...]string{"off", "probe", "up"}

func (s LinkState) String() string {
	if int(s) < len(linkStateNames) {
		return linkStateNames[s]
	}
	return "LinkState(?)"
}

// Link is the fast-path view of one direct neighbour.
type Link struct {
	// Addr is the peer's underlay address, the outer destination of the
	// encapsulation. It is valid whenever State is not LinkOff.
	Addr  netip.Addr
	State LinkState
}

// View is an immutable snapshot of what the router wants offloaded.
type View struct {
	// Self is this router's peer name; MACs owned by Self are local.
	Self frame.PeerName
	// Links by peer: only direct neighbours appear.
	Links map[frame.PeerName]Link
	// MACs maps every MAC the switch knows to the peer it lives on.
	MACs map[frame.MAC]frame.PeerName
}

// Offloaded reports whether traffic to m should take the fast path: m
// lives on a peer whose link is LinkUp. It returns that peer and link.
func (v *View) Offloaded(m frame.MAC) (frame.PeerName, Link, bool) {
	if v == nil {
		return frame.UnknownPeer, Link{}, false
	}
	p, ok := v.MACs[m]
	if !ok || p == v.Self {
		return frame.UnknownPeer, Link{}, false
	}
	l, ok := v.Links[p]
	if !ok || l.State != LinkUp || !l.Addr.IsValid() {
		return frame.UnknownPeer, Link{}, false
	}
	return p, l, true
}

// Stats are a backend's counters. Counters only grow, except Entries.
type Stats struct {
	// Entries is how much state is installed now: MAC entries for vxlan
	// (a bridge and a vxlan FDB entry count as one), flows for ovs.
	Entries int `json:"entries"`
	// Installed and Removed count entries or flows added and deleted.
	Installed uint64 `json:"installed"`
	Removed   uint64 `json:"removed"`
	// Misses counts frames the kernel handed up for a decision (ovs).
	Misses uint64 `json:"misses"`
	// Errors counts failed kernel operations (each is also logged).
	Errors uint64 `json:"errors"`
}

// Entry kinds.
const (
	KindMAC       = "mac"       // a remote MAC offloaded to a peer
	KindHeartbeat = "heartbeat" // a peer's heartbeat MAC (or Self's, to the TAP)
	KindFlow      = "flow"      // an ovs flow
)

// Entry is one piece of installed state, for status.
type Entry struct {
	Kind string         `json:"kind"`
	MAC  frame.MAC      `json:"-"`
	Peer frame.PeerName `json:"-"` // Self: delivered locally
	Addr netip.Addr     `json:"addr,omitzero"`
	// Detail is backend-specific (a flow's key and actions, a port).
	Detail string `json:"detail,omitempty"`
	// Used is when the kernel last used the entry, if it says.
	Used time.Time `json:"used,omitzero"`
}

// Env is what a backend is built with.
type Env struct {
	// Self is this router's peer name.
	Self frame.PeerName
	// Bridge is the Linux bridge the fast-path port joins; TAP is the
	// router's port on it (heartbeats to Self are delivered there).
	Bridge, TAP string
	// MTU is the overlay MTU (the bridge's).
	MTU int
	// Port is the UDP port of the encapsulation (vxlan), on every host.
	Port uint16
	// VNI is the vxlan network identifier.
	VNI uint32
	// Local is this host's underlay address (the outer source); invalid:
	// let the kernel choose per route.
	Local netip.Addr
	// Decider answers misses; backends that install state only from the
	// View may ignore it.
	Decider Decider
	// Logger; never nil once built by the daemon.
	Logger *slog.Logger
}

// Defaults for Env.
const (
	// DefaultPort is the fast path's UDP port. UDP 6783 is the sleeve and
	// UDP 6784 the QUIC transport (Weave's fastdp used 6784), so the fast
	// path uses 6785.
	DefaultPort = 6785
	// DefaultVNI is the vxlan network identifier ("ws" in ASCII).
	DefaultVNI = 0x7773
	// Overhead is the vxlan encapsulation's cost over IPv4: outer IPv4 20,
	// UDP 8, vxlan 8, inner Ethernet 14.
	Overhead = 50
)

// Action is a Decider's verdict on a frame that missed in the kernel.
type Action uint8

const (
	// Userspace: install nothing; the frame belongs to the userspace path
	// (unknown or broadcast destination, link not up). The backend drops
	// or returns it; the router's path carries the next ones.
	Userspace Action = iota
	// Local: deliver to the local bridge.
	Local
	// Remote: encapsulate to Decision.Addr (peer Decision.Peer).
	Remote
)

// Decision is a Decider's answer.
type Decision struct {
	Action Action
	Peer   frame.PeerName
	Addr   netip.Addr
}

// Decider decides frames that missed in the kernel.
type Decider interface {
	// Decide looks at the Ethernet header of a frame that arrived at the
	// datapath from the local bridge (from == UnknownPeer) or over the
	// fast path from peer from, and says where it goes.
	Decide(h frame.Ethernet, from frame.PeerName) Decision
}

// HeartbeatMAC is the per-peer unicast MAC that fast-path heartbeats to
// peer p are addressed to: locally administered, unicast, derived from the
// peer name by FNV-1a so it looks like no real interface's address.
func HeartbeatMAC(p frame.PeerName) frame.MAC {
	var b [frame.PeerNameSize]byte
	p.Put(b[:])
	h := fnv.New64a()
	h.Write([]byte("weave-switch fast-path heartbeat"))
	h.Write(b[:])
	s := h.Sum64()
	var m frame.MAC
	for i := range m {
		m[i] = byte(s >> (8 * i))
	}
	m[0] = m[0]&^0x01 | 0x02
	return m
}
