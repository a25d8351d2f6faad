package mesh

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Capability keys about links.
const (
	// CapLinkTransport, in a dialer's Hello, is the transport it asks
	// for on this link.
	CapLinkTransport = "link.transport"
)

// DataKeys are the per-link keys the control handshake derived (OK is
// false without a password).
type DataKeys struct {
	Send, Recv [32]byte
	OK         bool
}

// A Link puts neighbours on one data transport. The mesh chooses a Link
// per neighbour (negotiated in the handshake) and asks it for the data
// endpoint.
type Link interface {
	// Name is the transport's name in flags, caps and status:
	// "sleeve", "wireguard", "quic".
	Name() string
	// Transport is the transport links of this kind use.
	Transport() transport.Transport
	// Caps are what this router announces for the transport (ports,
	// public key, certificate hash).
	Caps() map[string]string
	// Encrypted reports whether links on this transport are encrypted.
	Encrypted() bool
	// Add sets up the link to peer, reachable at ip, from the caps it
	// announced and the handshake's data keys, and returns the peer's
	// data endpoint.
	Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, keys DataKeys) (transport.Endpoint, error)
	// Remove forgets the link to peer.
	Remove(peer frame.PeerName)
}

// PathMTUer is implemented by Links that know the path MTU of each link
// (shown per connection in status).
type PathMTUer interface {
	PathMTU(peer frame.PeerName) int
}

// UDPLink is the Link of a UDP transport addressed by IP:port, the
// sleeve: the peer announces its port under PortCap; with Encrypt, the
// transport must implement KeyInstaller and gets the handshake's keys.
type UDPLink struct {
	LinkName string // If empty, "sleeve".
	T        transport.Transport
	Port     uint16
	PortCap  string // If empty, CapDataPort.
	Encrypt  bool

	addrs sync.Map // frame.PeerName -> netip.Addr, for PathMTU
}

// PathMTU implements PathMTUer if the transport knows path MTUs by
// address (the sleeve does); 0 otherwise.
func (l *UDPLink) PathMTU(peer frame.PeerName) int {
	pm, ok := l.T.(interface{ PathMTU(netip.Addr) int })
	a, known := l.addrs.Load(peer)
	if !ok || !known {
		return 0
	}
	return pm.PathMTU(a.(netip.Addr))
}

var _ Link = (*UDPLink)(nil)

// Name implements Link.Name.
func (l *UDPLink) Name() string {
	if l.LinkName == "" {
		return "sleeve"
	}
	return l.LinkName
}

// Transport implements Link.Transport.
func (l *UDPLink) Transport() transport.Transport { return l.T }

func (l *UDPLink) portCap() string {
	if l.PortCap == "" {
		return CapDataPort
	}
	return l.PortCap
}

// Caps implements Link.Caps.
func (l *UDPLink) Caps() map[string]string {
	return map[string]string{l.portCap(): strconv.Itoa(int(l.Port))}
}

// Encrypted implements Link.Encrypted.
func (l *UDPLink) Encrypted() bool { return l.Encrypt }

// Add implements Link.Add.
func (l *UDPLink) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, keys DataKeys) (transport.Endpoint, error) {
	port, err := strconv.ParseUint(caps[l.portCap()], 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("peer announced no %s port", l.Name())
	}
	ep, err := l.T.ParseEndpoint(netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		return nil, err
	}
	l.addrs.Store(peer, ip)
	if !l.Encrypt {
		return ep, nil
	}
	ki, ok := l.T.(KeyInstaller)
	switch {
	case !ok:
		return nil, errors.New("transport cannot encrypt")
	case !keys.OK:
		return nil, errors.New("handshake gave no data keys")
	}
	if err := ki.SetKeys(peer, ep.DstAddrPort(), keys.Send, keys.Recv); err != nil {
		return nil, err
	}
	return ep, nil
}

// Remove implements Link.Remove.
func (l *UDPLink) Remove(peer frame.PeerName) {
	l.addrs.Delete(peer)
	if ki, ok := l.T.(KeyInstaller); ok && l.Encrypt {
		ki.RemoveKeys(peer)
	}
}

// linkNames is the CapTransports value: our links' names, comma-separated.
func (m *Mesh) linkNames() string {
	names := make([]string, len(m.cfg.Links))
	for i, l := range m.cfg.Links {
		names[i] = l.Name()
	}
	return strings.Join(names, ",")
}

func (m *Mesh) link(name string) Link {
	for _, l := range m.cfg.Links {
		if l.Name() == name {
			return l
		}
	}
	return nil
}

// chooseLink negotiates a link's transport: the one asked for if both
// sides offer it, else the default (the first link, the sleeve, which
// every router has), with the reason. Both sides compute the same answer
// from the same inputs.
func (m *Mesh) chooseLink(asked string, peerCaps map[string]string) (Link, string) {
	theirs := strings.Split(peerCaps[CapTransports], ",")
	fallback := m.cfg.Links[0]
	switch {
	case asked == "" || asked == fallback.Name():
		return fallback, ""
	case m.link(asked) == nil:
		return fallback, fmt.Sprintf("%s asked, this router does not offer it", asked)
	case !slices.Contains(theirs, asked):
		return fallback, fmt.Sprintf("%s asked, the peer does not offer it", asked)
	}
	return m.link(asked), ""
}

// ParsePeerSpec splits HOST[:PORT][,transport=T] (the --peer syntax).
func ParsePeerSpec(s string) (addr, transport string, err error) {
	addr, opts, _ := strings.Cut(s, ",")
	if addr == "" {
		return "", "", errors.New("no address")
	}
	for opt := range strings.SplitSeq(opts, ",") {
		if opt == "" {
			continue
		}
		k, v, _ := strings.Cut(opt, "=")
		switch k {
		case "transport":
			if v == "" {
				return "", "", errors.New("empty transport")
			}
			transport = v
		default:
			return "", "", fmt.Errorf("unknown option %q (want transport=sleeve|wireguard|quic)", k)
		}
	}
	return addr, transport, nil
}
