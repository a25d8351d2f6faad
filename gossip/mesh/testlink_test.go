package mesh

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// testLink is a Link over a transport addressed by IP:port, as the
// sleeve's is: the peer announces its port under portCap, and with
// encrypt the transport (a keyedTransport) gets the handshake's keys.
type testLink struct {
	name    string
	t       transport.Transport
	port    uint16
	portCap string
	encrypt bool
	// ownKeys: the link encrypts with keys of its own (as WireGuard and
	// QUIC do), not the handshake's.
	ownKeys bool
}

// keyInstaller is what an encrypted testLink needs of its transport.
type keyInstaller interface {
	SetKeys(peer frame.PeerName, addr netip.AddrPort, send, recv [32]byte) error
	RemoveKeys(peer frame.PeerName)
}

// sleeveLink is a testLink standing for the sleeve.
func sleeveLink(t transport.Transport, encrypt bool) *testLink {
	return &testLink{name: "sleeve", t: t, port: 6783, portCap: "sleeve.port", encrypt: encrypt}
}

var _ Link = (*testLink)(nil)

func (l *testLink) Name() string                   { return l.name }
func (l *testLink) Transport() transport.Transport { return l.t }
func (l *testLink) Encrypted() bool                { return l.encrypt }
func (l *testLink) Caps() map[string]string {
	return map[string]string{l.portCap: strconv.Itoa(int(l.port))}
}

func (l *testLink) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, keys link.Keys, _ bool) (transport.Endpoint, error) {
	port, err := strconv.ParseUint(caps[l.portCap], 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("peer announced no %s port", l.name)
	}
	ep, err := l.t.ParseEndpoint(netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil || !l.encrypt || l.ownKeys {
		return ep, err
	}
	ki, ok := l.t.(keyInstaller)
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

func (l *testLink) Remove(peer frame.PeerName) {
	if ki, ok := l.t.(keyInstaller); ok && l.encrypt {
		ki.RemoveKeys(peer)
	}
}
