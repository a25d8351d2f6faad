package mesh

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
)

// Router is what the mesh needs of the data path (*router.Router).
type Router interface {
	SetPeers([]link.Peer)
	SetRoutes(link.Routes)
	SendHeartbeats()
	LinkHealth() map[frame.PeerName]link.Health
	ForgetMACs(frame.PeerName) int
}

// Config configures a Mesh.
type Config struct {
	// Self, Nickname: this router's identity. Self is required.
	Self     frame.PeerName
	Nickname string
	// Password, if not empty, encrypts and authenticates every control
	// connection; peers without it are refused.
	Password []byte
	// Listen is the TCP address to accept control connections on; its
	// port is also where peers dial us. A specific address is also the
	// source of our dials to peers of its family. Required.
	Listen netip.AddrPort
	// Peers are the initial HOST[:PORT] targets to connect to.
	Peers []string
	// NoDiscovery stops connecting to peers learned from gossip.
	NoDiscovery bool
	// Relay announces this router as a relay (topology.CapRelay): every
	// router's routes prefer it among equally short paths, so sites
	// that cannot reach each other (both behind NAT) meet through it.
	Relay bool
	// NoPunch turns hole punching off (punch.go): peers this router
	// cannot dial are only ever reached through others, and calls from
	// them are not answered.
	NoPunch bool
	// LocalAddrs lists this router's own addresses, offered to peers as
	// candidates to punch to (punch.go): the host's interface addresses
	// other than the overlay's. If nil, the listen address is, unless it
	// is a wildcard.
	LocalAddrs func() []netip.Addr
	// Caps are extra capabilities to announce (transports, keys...).
	Caps map[string]string
	// Channels are further CRDTs to gossip, by channel id.
	Channels map[uint8]Channel
	// Router is the data path. Required.
	Router Router
	// Links are the data transports this router offers, the default
	// first (the sleeve: every router has it). Required.
	Links []Link
	// DefaultTransport is the transport asked for on links dialed without
	// a per-peer choice. If empty, the first link's.
	DefaultTransport string
	// MTU is the overlay MTU, shown per connection.
	MTU int
	// HeartbeatInterval: data-path pings. If zero, 1 s.
	HeartbeatInterval time.Duration
	// LinkTimeout: a link whose ping stays unanswered for this long is
	// down. If zero, 5 s.
	LinkTimeout time.Duration
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
	// Now is the clock. If nil, time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.LinkTimeout == 0 {
		c.LinkTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.DefaultTransport == "" && len(c.Links) > 0 {
		c.DefaultTransport = c.Links[0].Name()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Self == frame.UnknownPeer {
		errs = append(errs, errors.New("mesh: no peer name"))
	}
	if !c.Listen.IsValid() {
		errs = append(errs, errors.New("mesh: no listen address"))
	}
	if c.Router == nil {
		errs = append(errs, errors.New("mesh: no router"))
	}
	if len(c.Links) == 0 {
		errs = append(errs, errors.New("mesh: no links"))
	}
	// With a password no link may carry plaintext: chooseLink may fall
	// back to any of them (the first above all).
	for _, l := range c.Links {
		if len(c.Password) > 0 && !l.Encrypted() {
			errs = append(errs, fmt.Errorf("mesh: link %s does not encrypt, and the mesh has a password", l.Name()))
		}
	}
	return errors.Join(errs...)
}
