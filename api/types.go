package api

import (
	"net/netip"
	"time"
)

// DefaultSocket is where the daemon listens unless told otherwise.
const DefaultSocket = "/run/weave-switch/weave-switch.sock"

// Status is the router's state as `weave-switch status` shows it.
type Status struct {
	// Schema is SchemaVersion.
	Schema   int       `json:"schema"`
	Name     string    `json:"name"`
	Nickname string    `json:"nickname"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
	// PID is the router's process.
	PID        int    `json:"pid"`
	Listen     string `json:"listen"`
	Transport  string `json:"transport"`
	Encryption string `json:"encryption"`
	// Insecure reports whether the mesh runs without a secret
	// (--insecure): nothing is authenticated, and no link counts as
	// encrypted.
	Insecure bool `json:"insecure"`
	// Secret says where the mesh's secret came from: "password",
	// "join-token", "data-dir", "data-dir (new)" or "none (insecure)".
	Secret string `json:"secret"`
	Bridge string `json:"bridge"`
	TAP    string `json:"tap"`
	MTU    int    `json:"mtu"`

	Peers       []Peer       `json:"peers"`
	Connections []Connection `json:"connections"`
	// HandshakesRefused counts the inbound control connections refused,
	// by reason (rate, source_busy, busy, timeout, handshake, name_claim).
	HandshakesRefused map[string]uint64 `json:"handshakes_refused"`
	// GossipDropped counts the topology entries merges refused, by
	// reason (ahead: stamped too far in the future).
	GossipDropped map[string]uint64 `json:"gossip_dropped"`
	// Gossip is when the control plane last heard gossip from a peer.
	Gossip Gossip `json:"gossip"`
	// Transports are the counters of each transport this router runs.
	Transports  []TransportStats `json:"transports"`
	Switch      SwitchStats      `json:"switch"`
	Data        DataStats        `json:"data"`
	Attachments []Attachment     `json:"attachments"`
	Fastpath    Fastpath         `json:"fastpath"`
	IPAM        *IPAMStatus      `json:"ipam,omitempty"`
	// Host is isolation, exposed addresses and services (see host.go).
	Host *HostStatus `json:"host,omitempty"`
	// Docker is the Docker integration; absent with --no-docker.
	Docker *DockerStatus `json:"docker,omitempty"`
	// HTTPAddr is where the status page is served over TCP
	// (--http-addr); empty when it is served on the API socket only.
	HTTPAddr string `json:"http_addr,omitempty"`
	// Health is CheckHealth of the rest, as the API answers it.
	Health *Health `json:"health,omitempty"`
}

// Gossip is the clock of the last gossip from a peer.
type Gossip struct {
	// Last is when gossip last arrived from a peer; zero if never.
	Last time.Time `json:"last,omitzero"`
	// Age is the seconds from Last to when the status was taken.
	Age float64 `json:"age,omitempty"`
	// Interval is the seconds between the gossip every connection
	// carries at least (the longest of them): a live peer is never
	// silent much longer.
	Interval float64 `json:"interval"`
}

// DockerStatus is the state of the Docker integration: the network
// plugin, the API proxy and the events watcher.
type DockerStatus struct {
	// Host is the Docker daemon's address; Connected whether the
	// watcher follows its events now, Version its engine version.
	Host      string `json:"host"`
	Connected bool   `json:"connected"`
	Version   string `json:"version,omitempty"`
	// Error is why the watcher is not connected, if it is not.
	Error string `json:"error,omitempty"`
	// ProxySocket is where the Docker API proxy listens (DOCKER_HOST
	// for `eval $(weave-switch env)`); PluginSockets where the network
	// and IPAM plugin is served.
	ProxySocket   string   `json:"proxy_socket"`
	PluginSockets []string `json:"plugin_sockets"`
	// Network is the Docker network the router made (weave).
	Network string `json:"network,omitempty"`
}

// Fastpath is the kernel fast path's state.
type Fastpath struct {
	Backend string `json:"backend"` // userspace, vxlan or ovs
	Reason  string `json:"reason"`  // why this backend
	Device  string `json:"device,omitempty"`
	Port    int    `json:"udp_port,omitempty"`
	VNI     uint32 `json:"vni,omitempty"`
	// HeartbeatInterval and DownAfter are the health check's timing, in
	// seconds: a link whose fast-path heartbeats go unanswered for
	// DownAfter falls back to userspace.
	HeartbeatInterval float64 `json:"heartbeat_interval,omitempty"`
	DownAfter         float64 `json:"down_after,omitempty"`
	// Entries is the MAC entries (vxlan) or flows (ovs) installed now.
	Entries    int    `json:"entries"`
	Installed  uint64 `json:"installed"`
	Removed    uint64 `json:"removed"`
	Misses     uint64 `json:"misses"`
	Errors     uint64 `json:"errors"`
	Fallbacks  uint64 `json:"fallbacks"`
	Recoveries uint64 `json:"recoveries"`
	// Fence is the nftables table that lets only the peers' underlay
	// addresses send to Port; FenceDrops counts the datagrams it
	// dropped.
	Fence      string `json:"fence,omitempty"`
	FenceDrops uint64 `json:"fence_drops"`
	// Unencrypted: links the mesh encrypts in userspace are carried
	// unencrypted by the kernel backend; UnencryptedReason says why.
	Unencrypted       bool        `json:"unencrypted,omitempty"`
	UnencryptedReason string      `json:"unencrypted_reason,omitempty"`
	Links             []FastLink  `json:"links"`
	Table             []FastEntry `json:"table"`
}

// FastLink is one link's fast-path state.
type FastLink struct {
	Peer    string    `json:"peer"`
	Addr    string    `json:"addr,omitempty"`
	State   string    `json:"state"` // off, probe, up
	Reason  string    `json:"reason"`
	Since   time.Time `json:"since"`
	LastAck time.Time `json:"last_ack,omitzero"`
	// RTT is the latest heartbeat's round trip through the kernel path,
	// in seconds; 0 (absent) until one is answered.
	RTT        float64 `json:"rtt,omitempty"`
	Fallbacks  uint64  `json:"fallbacks"`
	Recoveries uint64  `json:"recoveries"`
}

// FastEntry is one installed entry or flow.
type FastEntry struct {
	Kind   string    `json:"kind"` // mac, heartbeat, flow
	MAC    string    `json:"mac"`
	Peer   string    `json:"peer"` // "self": delivered locally
	Addr   string    `json:"addr,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Used   time.Time `json:"used,omitzero"`
}

// Connection is one link to a neighbour (or a dial target without one):
// the control connection's state and the data path's counters.
type Connection struct {
	Peer      string `json:"peer,omitempty"`
	Nickname  string `json:"nickname,omitempty"`
	Direction string `json:"direction"` // "outbound" or "inbound"
	Address   string `json:"address"`
	State     string `json:"state"` // connecting, retrying, failed, pending, established
	Reason    string `json:"reason,omitempty"`
	Transport string `json:"transport,omitempty"`
	Asked     string `json:"transport_asked,omitempty"`
	Fallback  string `json:"transport_fallback,omitempty"`
	// Encrypted reports whether the data path is encrypted with keys
	// from an authenticated handshake; false on every link of an
	// insecure mesh, WireGuard and QUIC ones included.
	Encrypted bool `json:"encrypted"`
	// Cipher is the AEAD of an encrypted sleeve link: aes256-gcm or
	// chacha20-poly1305, chosen in the handshake; empty otherwise.
	Cipher string `json:"cipher,omitempty"`
	// Endpoint is the peer's underlay address:port the link sends to
	// now: where the control connection said, or, for a peer behind NAT,
	// the mapping its authenticated traffic came from.
	Endpoint string `json:"endpoint,omitempty"`
	// Path is "direct" for an established link, "relayed via PEER" for
	// a dial target whose peer is reached through PEER.
	Path     string `json:"path,omitempty"`
	Datapath string `json:"datapath,omitempty"` // "fastpath" or "userspace"
	// DatapathReason is why the link is (or is not) on the fast path.
	DatapathReason string `json:"datapath_reason,omitempty"`
	MTU            int    `json:"mtu,omitempty"`      // the overlay's
	PathMTU        int    `json:"path_mtu,omitempty"` // the underlay path's, per link
	// RTT is the control connection's latest round trip, in seconds; 0
	// (absent) until measured.
	RTT     float64   `json:"rtt,omitempty"`
	NextTry time.Time `json:"next_try,omitzero"`
	// Since is when the connection was made (absent for a dial target).
	Since    time.Time `json:"since,omitzero"`
	TxFrames uint64    `json:"tx_frames"`
	TxBytes  uint64    `json:"tx_bytes"`
	RxFrames uint64    `json:"rx_frames"`
	RxBytes  uint64    `json:"rx_bytes"`
	TxErrors uint64    `json:"tx_errors"`
}

// Peer is one router of the mesh, as the gossiped topology knows it.
type Peer struct {
	Name        string `json:"name"`
	Nickname    string `json:"nickname"`
	UID         uint64 `json:"uid"`
	Connections int    `json:"connections"`
	Established int    `json:"established"`
	Reachable   bool   `json:"reachable"`
	NextHop     string `json:"next_hop,omitempty"`
	// Links are the peers this one has established links to, as it
	// gossips them: with every peer's, the whole mesh.
	Links []string `json:"links,omitempty"`
	Relay bool     `json:"relay,omitempty"` // the peer offers to relay (--relay)
}

// SwitchStats summarises the MAC table.
type SwitchStats struct {
	Entries   int               `json:"entries"`
	Capacity  int               `json:"capacity"`
	Learned   uint64            `json:"learned"`
	Moves     uint64            `json:"moves"`
	Evictions uint64            `json:"evictions"`
	Drops     map[string]uint64 `json:"drops"`
}

// DataStats counts frames across the router's ports.
type DataStats struct {
	FromBridge uint64 `json:"from_bridge"`
	ToBridge   uint64 `json:"to_bridge"`
	NoPeer     uint64 `json:"dropped_no_peer"`
	NoRoute    uint64 `json:"dropped_no_route"`
	Unknown    uint64 `json:"dropped_unknown_sender"`
	SendErrors uint64 `json:"send_errors"`
	DevErrors  uint64 `json:"bridge_errors"`
	// Offload counts frames dropped because they needed TAP offloads
	// this host lacks (a super-frame from a peer with offloads).
	Offload uint64 `json:"dropped_needs_offload"`
	// RxQueue counts received frames dropped because their delivery
	// worker's queue was full (overload, dropped at ingress).
	RxQueue uint64 `json:"dropped_rx_queue_full"`
	// WrongSource counts received frames and heartbeats that named a
	// neighbour but came from another underlay address (or transport)
	// than the one its control connection registered.
	WrongSource uint64 `json:"dropped_wrong_source"`
	// BadGSO counts received frames whose offload descriptor did not fit
	// the frame, dropped before the bridge.
	BadGSO uint64 `json:"dropped_bad_gso"`
}

// AttachRequest asks to attach a network namespace to the bridge.
type AttachRequest struct {
	// NetNS is a PID, a path, a name under /run/netns, or a Docker
	// container's name or ID (a namespace of that name wins).
	NetNS string `json:"netns"`
	// CIDRs are the addresses to give the container, like 10.32.0.5/12.
	// The allocator records them so that it never hands them out.
	CIDRs []netip.Prefix `json:"cidrs"`
	// Subnets ask the allocator for an address in each: "net:CIDR",
	// "app:NAME" or "net:default". With neither CIDRs nor Subnets, the
	// container gets an address in the default subnet.
	Subnets []string `json:"subnets,omitempty"`
	// MAC, if set, is the container's MAC (aa:bb:cc:dd:ee:ff), e.g. the
	// one it had on another host; otherwise the router picks one.
	MAC string `json:"mac,omitempty"`
	// Name, if set, is registered in the router's DNS for the
	// container's addresses (web, or web.weave.local), until detach.
	Name string `json:"name,omitempty"`
	// NoResolvConf: do not write the container's resolv.conf (for a
	// named namespace, /etc/netns/NAME/resolv.conf) pointing at the
	// router's DNS.
	NoResolvConf bool `json:"no_resolv_conf,omitempty"`
	// Key, if set, is the name the router keeps the attachment and its
	// addresses under instead of the namespace: a container runtime's
	// own name for it, like cni:NETWORK:CONTAINERID:IFNAME (see
	// CheckKey). Such an attachment lasts until a detach names its key,
	// whether or not its namespace still exists.
	Key string `json:"key,omitempty"`
	// IfName, if set, names the container side of the veth (eth0)
	// instead of the router's default (ethws).
	IfName string `json:"ifname,omitempty"`
}

// Attachment is an attached namespace.
type Attachment struct {
	NetNS    string         `json:"netns"`
	HostVeth string         `json:"host_veth"`
	MAC      string         `json:"mac"`
	Addrs    []netip.Prefix `json:"addrs"`
	// Container is the name of the container attached by name or ID.
	Container string `json:"container,omitempty"`
	// Stopped says the container is not running: it has no namespace
	// and no veth, and keeps its MAC and addresses for its next start.
	Stopped bool `json:"stopped,omitempty"`
}

// ConnectRequest asks to connect to a peer (or forget it).
type ConnectRequest struct {
	Address   string `json:"address"`             // HOST[:PORT]
	Transport string `json:"transport,omitempty"` // asked for on this link; empty: the default
}

// ForgetResponse says whether the address was a target.
type ForgetResponse struct {
	Forgotten bool `json:"forgotten"`
}

// DetachRequest asks to detach a namespace.
type DetachRequest struct {
	// NetNS is named as in AttachRequest.
	NetNS string `json:"netns"`
	// Key, if set, detaches the attachment made with this key (NetNS
	// is then ignored) and releases its addresses, also when the
	// router holds no attachment of it (only addresses).
	Key string `json:"key,omitempty"`
}

// DetachResponse says whether anything was attached.
type DetachResponse struct {
	Detached bool `json:"detached"`
	// Released are the addresses freed (also for a namespace that is gone).
	Released []netip.Addr `json:"released,omitempty"`
}

// Error is the body of a failed request.
type Error struct {
	Error string `json:"error"`
}

// TransportStats are one transport's counters, in one shape for every
// transport.
type TransportStats struct {
	// Name is the transport: sleeve, wireguard or quic.
	Name string `json:"name"`
	// Counters are events and totals by name (frames, datagrams and
	// bytes sent and received, fragments, offload batches...).
	Counters map[string]uint64 `json:"counters"`
	// Drops are frames or datagrams dropped, by reason.
	Drops map[string]uint64 `json:"drops"`
	// PathMTU is the underlay path MTU by peer address, where the
	// transport learned one below the interface's.
	PathMTU map[string]int `json:"path_mtu,omitempty"`
}

// JoinToken is the answer of GET /v1/join-token.
type JoinToken struct {
	Schema int `json:"schema"`
	// Token is what `weave-switch up --join` takes on another host.
	Token string `json:"token"`
}
