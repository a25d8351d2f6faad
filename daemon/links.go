package daemon

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/transport"
	quictransport "github.com/weave-switch/weave-switch/transport/quic"
	"github.com/weave-switch/weave-switch/transport/wireguard"
)

// Capabilities the WireGuard and QUIC links announce.
const (
	capWGKey    = "wg.pubkey"
	capWGPort   = "wg.port"
	capQUICCert = "quic.cert"
	capQUICPort = "quic.port"
)

// wgLink puts links on WireGuard: the public key travels in the control
// handshake, so nobody writes a WireGuard config.
type wgLink struct {
	t    *wireguard.Transport
	port uint16
}

func (l *wgLink) Name() string                   { return "wireguard" }
func (l *wgLink) Transport() transport.Transport { return l.t }
func (l *wgLink) Encrypted() bool                { return true }
func (l *wgLink) Caps() map[string]string {
	pub := l.t.PublicKey()
	return map[string]string{capWGKey: base64.StdEncoding.EncodeToString(pub[:]), capWGPort: strconv.Itoa(int(l.port))}
}

func (l *wgLink) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, _ mesh.DataKeys) (transport.Endpoint, error) {
	key, err := wireguard.ParseKey(caps[capWGKey])
	if err != nil {
		return nil, fmt.Errorf("peer's WireGuard key: %w", err)
	}
	ap, err := capAddr(ip, caps[capWGPort])
	if err != nil {
		return nil, err
	}
	if err := l.t.AddPeer(peer, key, ap); err != nil {
		return nil, err
	}
	return l.t.ParseEndpoint(ap.String())
}

func (l *wgLink) Remove(peer frame.PeerName) { _ = l.t.RemovePeer(peer) }

// Stats returns the transport's counters, for status.
func (l *wgLink) Stats() any { return l.t.Stats().Snapshot() }

// PathMTU implements mesh.PathMTUer.
func (l *wgLink) PathMTU(peer frame.PeerName) int { return l.t.PathMTU(peer) }

// quicLink puts links on QUIC datagrams, the peer's certificate pinned by
// the hash it announced over the authenticated control channel.
type quicLink struct {
	t    *quictransport.Transport
	port uint16
}

func (l *quicLink) Name() string                   { return "quic" }
func (l *quicLink) Transport() transport.Transport { return l.t }
func (l *quicLink) Encrypted() bool                { return true }
func (l *quicLink) Caps() map[string]string {
	h := l.t.CertHash()
	return map[string]string{capQUICCert: hex.EncodeToString(h[:]), capQUICPort: strconv.Itoa(int(l.port))}
}

func (l *quicLink) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, _ mesh.DataKeys) (transport.Endpoint, error) {
	b, err := hex.DecodeString(caps[capQUICCert])
	if err != nil || len(b) != 32 {
		return nil, errors.New("peer announced no QUIC certificate hash")
	}
	ap, err := capAddr(ip, caps[capQUICPort])
	if err != nil {
		return nil, err
	}
	if err := l.t.AddPeer(peer, [32]byte(b), ap); err != nil {
		return nil, err
	}
	return l.t.ParseEndpoint(ap.String())
}

func (l *quicLink) Remove(peer frame.PeerName) { l.t.RemovePeer(peer) }

// Stats returns the transport's counters, for status.
func (l *quicLink) Stats() any { return l.t.Stats() }

// PathMTU implements mesh.PathMTUer.
func (l *quicLink) PathMTU(peer frame.PeerName) int { return l.t.PathMTU(peer) }

func capAddr(ip netip.Addr, port string) (netip.AddrPort, error) {
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return netip.AddrPort{}, fmt.Errorf("peer announced no port (%q)", port)
	}
	return netip.AddrPortFrom(ip, uint16(p)), nil
}
