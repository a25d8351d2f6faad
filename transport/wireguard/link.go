package wireguard

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// Capabilities a router announces for its WireGuard transport.
const (
	CapPublicKey = "wg.pubkey" // base64, as wg(8) writes keys
	CapPort      = "wg.port"
)

// Link puts mesh neighbours on WireGuard (it implements the mesh's Link):
// the public key travels in the control handshake, so nobody writes a
// WireGuard config. Its methods are safe for concurrent use.
type Link struct {
	t    *Transport
	port uint16
}

// NewLink returns the Link of t, announcing port to peers.
func NewLink(t *Transport, port uint16) *Link { return &Link{t: t, port: port} }

// Name returns "wireguard".
func (l *Link) Name() string { return "wireguard" }

// Transport returns the WireGuard transport.
func (l *Link) Transport() transport.Transport { return l.t }

// Encrypted returns true: WireGuard always encrypts.
func (l *Link) Encrypted() bool { return true }

// Caps returns the public key under CapPublicKey and the port under
// CapPort.
func (l *Link) Caps() map[string]string {
	pub := l.t.PublicKey()
	return map[string]string{CapPublicKey: base64.StdEncoding.EncodeToString(pub[:]), CapPort: strconv.Itoa(int(l.port))}
}

// Add makes peer a WireGuard peer with the key and port it announced, at
// ip, and returns its endpoint. WireGuard has its own handshake: the
// control handshake's keys are not used.
func (l *Link) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, _ link.Keys, _ bool) (transport.Endpoint, error) {
	key, err := ParseKey(caps[CapPublicKey])
	if err != nil {
		return nil, fmt.Errorf("peer's WireGuard key: %w", err)
	}
	p, err := strconv.ParseUint(caps[CapPort], 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("peer announced no port (%q)", caps[CapPort])
	}
	ap := netip.AddrPortFrom(ip, uint16(p))
	if err := l.t.AddPeer(peer, key, ap); err != nil {
		return nil, err
	}
	return l.t.ParseEndpoint(ap.String())
}

// Endpoint returns the address the device sends to peer now.
func (l *Link) Endpoint(peer frame.PeerName) netip.AddrPort { return l.t.Endpoint(peer) }

// Remove removes peer from the WireGuard device.
func (l *Link) Remove(peer frame.PeerName) { _ = l.t.RemovePeer(peer) }

// PathMTU returns the path MTU to peer (see Transport.PathMTU).
func (l *Link) PathMTU(peer frame.PeerName) int { return l.t.PathMTU(peer) }
