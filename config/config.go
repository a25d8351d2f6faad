// Package config is what `weave-switch up` takes: every setting of a
// router, its defaults, and the checks that can be made without touching
// the system.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker/proxy"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/internal/meshsecret"
	"github.com/weave-switch/weave-switch/isolation"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/sleeve"
)

// DefaultPort is the TCP control port and the UDP sleeve port.
const DefaultPort = 6783

// DefaultCNIStateDir is the directory the router shares with the CNI
// plugin by default.
const DefaultCNIStateDir = "/var/lib/cni/weave-switch"

// DefaultKeepalive is Config.Keepalive's default: well under the 30 s
// after which NATs commonly forget an idle UDP mapping.
const DefaultKeepalive = 10 * time.Second

// DefaultProxySocket is where the Docker API proxy listens by default.
const DefaultProxySocket = proxy.DefaultSocket

// DefaultPluginSockets are where the Docker plugin is served by default:
// the socket dockerd looks up by the driver's name, and the one the
// managed (v2) plugin forwards to.
var DefaultPluginSockets = []string{"/run/docker/plugins/weave-switch.sock", "/run/weave-switch/plugin.sock"}

// Config is everything `weave-switch up` takes. The CLI maps each flag to
// one field.
type Config struct {
	// Name is the peer name (aa:bb:cc:dd:ee:ff). If empty, it is read from
	// DataDir/peer-name, or derived stably from the machine id and the
	// network namespace and then saved there.
	Name string
	// Nickname is shown in status. If empty, defaults to the host name.
	Nickname string
	// Listen is HOST:PORT for the sleeve. If empty, defaults to 0.0.0.0:6783.
	Listen string
	// Peers are HOST[:PORT] of static peers.
	Peers []string
	// Bridge is the Linux bridge's name. If empty, defaults to "weave".
	Bridge string
	// API is the control socket path. If empty, defaults to api.DefaultSocket.
	API string
	// DataDir keeps state across restarts. If empty, defaults to
	// /var/lib/weave-switch.
	DataDir string
	// MTU is the overlay MTU. If zero, defaults to 1500 minus the
	// transport's overhead and the Ethernet header.
	MTU int
	// Password, if set, is the mesh's secret: it authenticates and
	// encrypts the control plane and every link; peers must share it.
	// Read from --password-file or WEAVE_SWITCH_PASSWORD by the CLI. It
	// wins over the secret kept in DataDir. If empty, the secret is
	// Join's, else the one kept in DataDir (made on the first start),
	// unless Insecure.
	Password []byte
	// Join is a join token (`weave-switch join-token` on a member of
	// the mesh): its secret becomes the mesh's (and is kept in DataDir),
	// and its addresses are dialled like Peers.
	Join string
	// Insecure runs the mesh without a secret: nothing is authenticated
	// or encrypted. Status and the start-up log say so.
	Insecure bool
	// Cipher is the AEAD the sleeve encrypts links with when the mesh
	// has a secret: "auto" (AES-256-GCM on links between routers that
	// both have hardware AES, else ChaCha20-Poly1305), "aes256-gcm" or
	// "chacha20-poly1305". An explicit cipher is the only one this router
	// accepts: a peer that does not accept it gets no link, with the
	// reason in the log and status. If empty, "auto". The WireGuard and
	// QUIC transports have their own.
	Cipher string
	// Transport is the transport asked for on links without a per-peer
	// choice: sleeve, wireguard or quic. If empty, "sleeve".
	Transport string
	// Offer lists further transports this router offers peers besides
	// the sleeve (and Transport): "wireguard", "quic".
	Offer []string
	// WireGuardListen and QUICListen are the UDP addresses of those
	// transports. If empty, 0.0.0.0:51820 and 0.0.0.0:6784.
	WireGuardListen, QUICListen string
	// Keepalive is the longest an idle link stays silent towards its
	// peer, which holds the mapping of a NAT on the way: the pace of the
	// data-path heartbeats on an idle, healthy link (every second on a
	// link with traffic or a suspect one), and WireGuard's persistent
	// keepalive and QUIC's keep-alive. A link that dies while idle is
	// found within Keepalive and 6 s. If zero, DefaultKeepalive.
	Keepalive time.Duration
	// Relay marks this router as a relay: routes everywhere prefer it
	// among equally short paths, so that sites with no link between them
	// (both behind NAT) meet through it. For a router others can reach.
	Relay bool
	// NoPunch turns hole punching off: peers this router cannot dial are
	// only ever reached through others.
	NoPunch bool
	// TestClock gives every service one wall clock that the API steps
	// (POST /v1/debug/clock), for fault tests, starting TestClockOffset
	// away from the system's; `up` sets them from the environment's
	// WS_TEST_CLOCK (1, or an offset such as -10m). Never for production.
	TestClock       bool
	TestClockOffset time.Duration
	// NoDiscovery: connect only to Peers and to run-time connects, not to
	// peers learned from gossip.
	NoDiscovery bool
	// MetricsAddr, if set, serves Prometheus metrics on HOST:PORT over TCP
	// (they are always on the API socket at /metrics).
	MetricsAddr string
	// HTTPAddr, if set, serves the read-only status page on HOST:PORT
	// over TCP (it is always on the API socket at /).
	HTTPAddr string
	// RxWorkers is the number of goroutines that write received frames
	// into the TAP, chosen per flow; 0: router.Config's default (none
	// below 4 CPUs); 1: the receiving goroutine writes them itself.
	RxWorkers int
	// Queues is the number of TAP queues, each read by its own goroutine.
	// If zero, one per CPU, at most 4.
	Queues int
	// NoOffload opens the TAP without virtio_net_hdr offloads (TSO,
	// checksum), so that every frame crosses userspace on its own. For
	// comparison and debugging; the default uses offloads when the kernel
	// has them.
	NoOffload bool
	// Datapath is the kernel fast path: auto, userspace, vxlan or ovs. If
	// empty, auto.
	Datapath string
	// FastPathPort is the fast path's UDP port (vxlan), the same on every
	// host. If zero, kernel.DefaultPort (6785).
	FastPathPort int
	// FastPathUnencrypted lets an explicitly asked kernel backend (vxlan
	// or ovs) carry the links of a mesh with a Password unencrypted: no
	// kernel backend encrypts, so without it that combination is refused.
	FastPathUnencrypted bool
	// IPAllocRange is the range container addresses are allocated from.
	// If empty, defaults to 10.32.0.0/12.
	IPAllocRange string
	// IPAllocSeeds are the peer names the allocation ring is created
	// with; every router of the cluster must be given the same list. If
	// empty, a router without Peers seeds the ring alone and a router with
	// Peers waits for the ring from them.
	IPAllocSeeds []string
	// NoIsolation turns the isolation filter off: containers of every
	// application subnet share one L2 segment unfiltered, as in Weave Net.
	// By default every container port is filtered (package isolation).
	NoIsolation bool
	// Allow lists pairs of application subnets that may talk, each
	// "A,B" (`weave-switch allow A B` at run time).
	Allow []string
	// DockerHost is the Docker daemon's address. If empty, DOCKER_HOST,
	// else unix:///var/run/docker.sock.
	DockerHost string
	// NoDocker turns the Docker integration off: no network plugin, no
	// API proxy, no events watcher.
	NoDocker bool
	// ProxySocket is where the Docker API proxy listens. If empty,
	// DefaultProxySocket.
	ProxySocket string
	// NoDNS turns the DNS server and the mesh's name registry off.
	NoDNS bool
	// DNSListen is HOST:PORT the DNS server answers on. If empty, port 53
	// of every IPv4 address the bridge has (an exposed subnet's, the
	// Docker networks' gateways), followed as they come and go.
	DNSListen string
	// DNSDomain is the domain answered from the registry. If empty,
	// "weave.local.".
	DNSDomain string
	// DNSTTL is the TTL of the registry's answers. If zero, 1 s.
	DNSTTL time.Duration
	// PluginSockets are where the Docker network and IPAM plugin is
	// served. If empty, DefaultPluginSockets: the socket dockerd finds by
	// name, and one for the managed plugin to forward to.
	PluginSockets []string
	// Kube takes the peers from the Kubernetes cluster's node list (the
	// pod's in-cluster configuration): every other node is connected,
	// and a node deleted from the cluster is forgotten and its router's
	// address space reclaimed once it is dead (package kube). Without
	// Name, the peer name is derived from KubeNodeName; without
	// IPAllocSeeds, the oldest node's router seeds the allocation ring
	// and the others wait for it.
	Kube bool
	// KubeNodeName is the node this router runs on, with Kube. If empty,
	// defaults to Nickname: the routers of a cluster are nicknamed after
	// their nodes, which is how a deleted node's router is found.
	KubeNodeName string
	// CNIStateDir is the directory the router shares with the CNI
	// plugin: the releases the plugin recorded while the router was down,
	// carried out when the router starts, and the records of the CNI
	// attachments, which outlive the router and are restored when it
	// starts. Empty: none.
	CNIStateDir string
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
}

// WithDefaults fills in every setting left empty.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = "0.0.0.0:" + strconv.Itoa(DefaultPort)
	}
	if c.Bridge == "" {
		c.Bridge = "weave"
	}
	if c.API == "" {
		c.API = api.DefaultSocket
	}
	if c.Transport == "" {
		c.Transport = "sleeve"
	}
	if c.Cipher == "" {
		c.Cipher = "auto"
	}
	if c.Keepalive == 0 {
		c.Keepalive = DefaultKeepalive
	}
	if c.WireGuardListen == "" {
		c.WireGuardListen = "0.0.0.0:51820"
	}
	if c.QUICListen == "" {
		c.QUICListen = "0.0.0.0:6784"
	}
	if c.DataDir == "" {
		c.DataDir = "/var/lib/weave-switch"
	}
	if c.Nickname == "" {
		c.Nickname, _ = os.Hostname()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Kube && c.KubeNodeName == "" {
		c.KubeNodeName = c.Nickname
	}
	if c.ProxySocket == "" {
		c.ProxySocket = DefaultProxySocket
	}
	if len(c.PluginSockets) == 0 {
		c.PluginSockets = slices.Clone(DefaultPluginSockets)
	}
	if t, err := meshsecret.ParseToken(c.Join); c.Join != "" && err == nil {
		c.Peers = append(slices.Clip(c.Peers), t.Addrs...)
	}
	return c
}

// Validate checks everything that can be checked without touching the
// system, and says what is wrong in one line per problem.
func (c Config) Validate() error {
	var errs []error
	if c.Name != "" {
		if _, err := frame.ParsePeerName(c.Name); err != nil {
			errs = append(errs, fmt.Errorf("--name: %w", err))
		}
	}
	if c.Listen != "" {
		if _, err := transport.ParseListen(c.Listen, DefaultPort); err != nil {
			errs = append(errs, fmt.Errorf("--listen: %w", err))
		}
	}
	if len(c.Bridge) > 15 {
		errs = append(errs, fmt.Errorf("--bridge: %q is longer than 15 characters", c.Bridge))
	}
	if strings.ContainsAny(c.Bridge, "/ \t") {
		errs = append(errs, fmt.Errorf("--bridge: %q is not a valid interface name", c.Bridge))
	}
	if c.Keepalive != 0 && (c.Keepalive < time.Second || c.Keepalive > time.Hour) {
		errs = append(errs, fmt.Errorf("--keepalive: %v is outside 1s..1h", c.Keepalive))
	}
	if c.RxWorkers < 0 || c.RxWorkers > 64 {
		errs = append(errs, fmt.Errorf("--rx-workers: %d is outside 0..64", c.RxWorkers))
	}
	if c.Queues < 0 || c.Queues > 64 {
		errs = append(errs, fmt.Errorf("--tap-queues: %d is outside 0..64", c.Queues))
	}
	if c.MTU != 0 && (c.MTU < 576 || c.MTU > frame.MaxFrameSize-frame.EthernetHeaderSize-4) {
		errs = append(errs, fmt.Errorf("--mtu: %d is outside 576..%d", c.MTU, frame.MaxFrameSize-frame.EthernetHeaderSize-4))
	}
	if ci, err := sleeve.ParseCipher(c.Cipher); err != nil {
		errs = append(errs, fmt.Errorf("--cipher: %w", err))
	} else if ci != sleeve.CipherAuto && c.Insecure {
		errs = append(errs, fmt.Errorf("--cipher %s: an --insecure mesh encrypts nothing", ci))
	}
	if err := kernel.ValidMode(c.Datapath); err != nil {
		errs = append(errs, fmt.Errorf("--datapath: %w", err))
	}
	if len(c.Password) > 0 && (c.Datapath == kernel.ModeVXLAN || c.Datapath == kernel.ModeOVS) && !c.FastPathUnencrypted {
		errs = append(errs, fmt.Errorf("--datapath %s: the mesh has a password and no kernel backend encrypts: add --fastpath-unencrypted to carry its links unencrypted over the fast path, or use --datapath auto or userspace", c.Datapath))
	}
	if c.FastPathPort < 0 || c.FastPathPort > 65535 {
		errs = append(errs, fmt.Errorf("--fastpath-port: %d is outside 1..65535", c.FastPathPort))
	}
	if c.DNSListen != "" {
		if _, err := netip.ParseAddrPort(c.DNSListen); err != nil {
			errs = append(errs, fmt.Errorf("--dns-listen: %q is not IP:PORT", c.DNSListen))
		}
	}
	if c.DNSTTL < 0 || c.DNSTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--dns-ttl: %s is outside 0..24h", c.DNSTTL))
	}
	for _, a := range c.Allow {
		if _, err := isolation.ParsePair(a); err != nil {
			errs = append(errs, fmt.Errorf("--allow %q: %w", a, err))
		}
	}
	errs = append(errs, c.SecretOptions().Validate()...)
	known := map[string]bool{"": true, "sleeve": true, "wireguard": true, "quic": true}
	if !known[c.Transport] {
		errs = append(errs, fmt.Errorf("--transport: %q is not sleeve, wireguard or quic", c.Transport))
	}
	for _, o := range c.Offer {
		if !known[o] {
			errs = append(errs, fmt.Errorf("--offer: %q is not sleeve, wireguard or quic", o))
		}
	}
	for _, l := range []string{c.WireGuardListen, c.QUICListen} {
		if l != "" {
			if _, err := transport.ParseListen(l, DefaultPort); err != nil {
				errs = append(errs, fmt.Errorf("listen address %q: %w", l, err))
			}
		}
	}
	if _, err := ipam.ParseRange(c.IPAllocRange); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := ipam.ParseSeeds(c.IPAllocSeeds, 0, false); err != nil {
		errs = append(errs, err)
	}
	for _, p := range c.Peers {
		_, tr, err := mesh.ParsePeerSpec(p)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("--peer %q: %w", p, err))
		case !known[tr]:
			errs = append(errs, fmt.Errorf("--peer %q: transport %q is not sleeve, wireguard or quic", p, tr))
		}
	}
	return errors.Join(errs...)
}

// Offered returns the transports this router offers besides the sleeve:
// Offer, the default Transport and every per-peer choice.
func (c Config) Offered() map[string]bool {
	out := map[string]bool{}
	for _, o := range append(c.Offer, c.Transport) {
		out[o] = true
	}
	for _, p := range c.Peers {
		if _, tr, err := mesh.ParsePeerSpec(p); err == nil && tr != "" {
			out[tr] = true
		}
	}
	delete(out, "sleeve")
	delete(out, "")
	return out
}

// TAPQueues is the number of TAP queues to open.
func (c Config) TAPQueues() int {
	if c.Queues > 0 {
		return c.Queues
	}
	return min(runtime.NumCPU(), 4)
}

// SecretOptions are c's ways of giving the mesh's secret.
func (c Config) SecretOptions() meshsecret.Options {
	return meshsecret.Options{Insecure: c.Insecure, Password: c.Password, Join: c.Join, DataDir: c.DataDir, Logger: c.Logger}
}
