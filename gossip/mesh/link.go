package mesh

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// Capability keys about links.
const (
	// CapLinkTransport, in a dialer's Hello, is the transport it asks
	// for on this link.
	CapLinkTransport = "link.transport"
)

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
	// data endpoint. dialer says this router dialled the control
	// connection: it could reach the peer, and the peer may not be able
	// to reach it (NAT), so a transport where one side opens the data
	// path (QUIC) opens it from here.
	Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, keys link.Keys, dialer bool) (transport.Endpoint, error)
	// Remove forgets the link to peer.
	Remove(peer frame.PeerName)
}

// PathMTUer is implemented by Links that know the path MTU of each link
// (shown per connection in status).
type PathMTUer interface {
	PathMTU(peer frame.PeerName) int
}

// Cipherer is implemented by Links that choose a cipher per link (the
// sleeve): CipherName is the one of the link to peer, shown per
// connection in status, or "" if it has none.
type Cipherer interface {
	CipherName(peer frame.PeerName) string
}

// Endpointer is implemented by Links whose transport follows a peer on
// its own (QUIC's connection, WireGuard's roaming): Endpoint is the
// underlay address it uses for peer now, shown per connection in status.
// For other Links status shows where the data path sends
// (link.Health.Endpoint).
type Endpointer interface {
	Endpoint(peer frame.PeerName) netip.AddrPort
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
