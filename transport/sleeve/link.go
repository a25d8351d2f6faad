package sleeve

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// CapPort is the capability under which a router announces the UDP port
// of its sleeve.
const CapPort = "sleeve.port"

// Link puts mesh neighbours on a Sleeve (it implements the mesh's Link):
// a router announces its port under CapPort, and when the Sleeve encrypts
// (Config.Encrypt) the ciphers it accepts under CapCiphers; each link then
// gets the keys of its control handshake, for the cipher both ends choose
// from both announcements (NegotiateCipher). Its methods are safe for
// concurrent use.
type Link struct {
	s       *Sleeve
	port    uint16
	addrs   sync.Map // frame.PeerName -> netip.Addr, for PathMTU
	ciphers sync.Map // frame.PeerName -> Cipher, of encrypted links
}

// NewLink returns the Link of s, announcing port to peers.
func NewLink(s *Sleeve, port uint16) *Link { return &Link{s: s, port: port} }

// Name returns "sleeve".
func (l *Link) Name() string { return "sleeve" }

// Transport returns the Sleeve.
func (l *Link) Transport() transport.Transport { return l.s }

// Caps returns the port under CapPort and, when the Sleeve encrypts, the
// ciphers it accepts under CapCiphers.
func (l *Link) Caps() map[string]string {
	caps := map[string]string{CapPort: strconv.Itoa(int(l.port))}
	if l.Encrypted() {
		caps[CapCiphers] = formatCiphers(l.s.ciphers)
	}
	return caps
}

// Encrypted reports whether the Sleeve encrypts.
func (l *Link) Encrypted() bool { return l.s.cfg.Encrypt }

// Add returns the endpoint of peer, at ip and the port it announced, and,
// when the Sleeve encrypts, installs the handshake's keys for it with the
// cipher both ends choose. It fails, and installs nothing, if peer has no
// cipher in common with this Sleeve (the error names what each accepts).
func (l *Link) Add(peer frame.PeerName, ip netip.Addr, caps map[string]string, keys link.Keys, _ bool) (transport.Endpoint, error) {
	port, err := strconv.ParseUint(caps[CapPort], 10, 16)
	if err != nil || port == 0 {
		return nil, fmt.Errorf("peer announced no %s port", l.Name())
	}
	ep, err := l.s.ParseEndpoint(netip.AddrPortFrom(ip, uint16(port)).String())
	if err != nil {
		return nil, err
	}
	l.addrs.Store(peer, ip)
	if !l.Encrypted() {
		return ep, nil
	}
	if !keys.OK {
		return nil, errors.New("handshake gave no data keys")
	}
	c, err := NegotiateCipher(l.s.ciphers, parseCiphers(caps[CapCiphers]))
	if err != nil {
		return nil, fmt.Errorf("sleeve encryption: %w", err)
	}
	if err := l.s.SetCipherKeys(peer, ep.DstAddrPort(), c, keys.Send, keys.Recv); err != nil {
		return nil, err
	}
	l.ciphers.Store(peer, c)
	l.s.log.Slog().Info("encrypted link", "peer", peer.String(), "cipher", c.String())
	return ep, nil
}

// Remove forgets peer and, when the Sleeve encrypts, its keys.
func (l *Link) Remove(peer frame.PeerName) {
	l.addrs.Delete(peer)
	l.ciphers.Delete(peer)
	if l.Encrypted() {
		l.s.RemoveKeys(peer)
	}
}

// PathMTU returns the path MTU to peer's address, or 0 if peer has no
// link.
func (l *Link) PathMTU(peer frame.PeerName) int {
	a, ok := l.addrs.Load(peer)
	if !ok {
		return 0
	}
	return l.s.PathMTU(a.(netip.Addr))
}

// CipherName returns the name of the cipher of the encrypted link to
// peer, or "" if there is none (it implements the mesh's Cipherer).
func (l *Link) CipherName(peer frame.PeerName) string {
	if c, ok := l.Cipher(peer); ok {
		return c.String()
	}
	return ""
}

// Cipher returns the cipher of the encrypted link to peer; ok is false if
// there is none (no link, or the Sleeve does not encrypt).
func (l *Link) Cipher(peer frame.PeerName) (c Cipher, ok bool) {
	v, ok := l.ciphers.Load(peer)
	if !ok {
		return 0, false
	}
	return v.(Cipher), true
}
