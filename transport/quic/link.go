package quictransport

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/weave-switch/weave-switch/frame"
	meshlink "github.com/weave-switch/weave-switch/link" // named apart from this package's link (a connection)
	"github.com/weave-switch/weave-switch/transport"
)

// Capabilities a router announces for its QUIC transport.
const (
	CapCertHash = "quic.cert" // SHA-256 of the certificate, hex
	CapPort     = "quic.port"
)

// Link puts mesh neighbours on QUIC datagrams (it implements the mesh's
// Link), each peer's certificate pinned by the hash it announced over the
// authenticated control channel. Its methods are safe for concurrent use.
type Link struct {
	t    *Transport
	port uint16
}

// NewLink returns the Link of t, announcing port to peers.
func NewLink(t *Transport, port uint16) *Link { return &Link{t: t, port: port} }

// Name returns "quic".
func (l *Link) Name() string { return "quic" }

// Transport returns the QUIC transport.
func (l *Link) Transport() transport.Transport { return l.t }

// Encrypted returns true: QUIC always encrypts.
func (l *Link) Encrypted() bool { return true }

// Caps returns the certificate hash under CapCertHash and the port under
// CapPort.
func (l *Link) Caps() map[string]string {
	h := l.t.CertHash()
	return map[string]string{CapCertHash: hex.EncodeToString(h[:]), CapPort: strconv.Itoa(int(l.port))}
}

// Add pins the certificate hash peer announced, at ip and the port it
// announced, and returns its endpoint. The side that dialled the control
// connection (dialer) dials the QUIC connection: the other may be behind
// NAT. QUIC has its own handshake: the control handshake's keys are not
// used.
func (l *Link) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, _ meshlink.Keys, dialer bool) (transport.Endpoint, error) {
	b, err := hex.DecodeString(caps[CapCertHash])
	if err != nil || len(b) != 32 {
		return nil, errors.New("peer announced no QUIC certificate hash")
	}
	p, err := strconv.ParseUint(caps[CapPort], 10, 16)
	if err != nil || p == 0 {
		return nil, fmt.Errorf("peer announced no port (%q)", caps[CapPort])
	}
	ap := netip.AddrPortFrom(ip, uint16(p))
	if err := l.t.AddPeer(peer, [32]byte(b), ap, dialer); err != nil {
		return nil, err
	}
	return l.t.ParseEndpoint(ap.String())
}

// Endpoint returns the address the connection to peer uses now.
func (l *Link) Endpoint(peer frame.PeerName) netip.AddrPort { return l.t.Endpoint(peer) }

// Remove forgets peer.
func (l *Link) Remove(peer frame.PeerName) { l.t.RemovePeer(peer) }

// PathMTU returns the path MTU to peer (see Transport.PathMTU).
func (l *Link) PathMTU(peer frame.PeerName) int { return l.t.PathMTU(peer) }
