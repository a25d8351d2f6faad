package wireguard

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/curve25519"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// DefaultPort is WireGuard's customary UDP port, used when Config.Listen
// has none.
const DefaultPort = 51820

// DefaultListen is the address bound when Config.Listen is zero.
var DefaultListen = netip.AddrPortFrom(netip.IPv4Unspecified(), DefaultPort)

// Config configures a Transport.
type Config struct {
	// Self is this peer's name; its link address is fd77:7773::<Self>.
	// Required.
	Self frame.PeerName
	// Listen is the local UDP address. If zero, defaults to DefaultListen
	// (0.0.0.0:51820); port 0 picks a free port. Only the port is used:
	// wireguard-go's StdNetBind listens on that port on every IPv4 and
	// IPv6 address.
	Listen netip.AddrPort
	// PrivateKey is this peer's Curve25519 private key (see
	// LoadOrCreateKey). Required: the all-zero key is refused.
	PrivateKey [32]byte
	// Logger receives the transport's messages and wireguard-go's own
	// (its verbose lines at Debug, its errors at Error, rate-limited). If
	// nil, nothing is logged.
	Logger *slog.Logger
	// UnderlayMTU is the path MTU assumed to every peer until the kernel
	// reports a smaller one for its route (IP_MTU of a connected socket,
	// read at AddPeer and every PMTUInterval). If zero, defaults to 1500.
	UnderlayMTU int
	// PMTUInterval is how often the path MTUs are read again. If zero,
	// defaults to 2 s.
	PMTUInterval time.Duration
	// Keepalive is the persistent keepalive of every peer: the longest
	// the device stays silent towards a peer, which keeps a NAT's mapping
	// on the way alive. Whole seconds, 1 s to 18 h. If zero, defaults
	// to 25 s.
	Keepalive time.Duration
	// InitiateDelay is how long the first handshake with a new peer
	// whose name is smaller than Self is left to that peer before this
	// device starts one itself (see AddPeer): two devices that initiate
	// at once each drop the answer to their own initiation, and have no
	// session until a retry five seconds later. It is to exceed the time
	// between the two sides setting the peer up plus the initiation's
	// trip: a round trip or two of the control connection. If zero,
	// defaults to 1 s.
	InitiateDelay time.Duration
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.UnderlayMTU == 0 {
		out.UnderlayMTU = 1500
	}
	if out.PMTUInterval == 0 {
		out.PMTUInterval = 2 * time.Second
	}
	if !out.Listen.IsValid() {
		out.Listen = DefaultListen
	}
	if out.Keepalive == 0 {
		out.Keepalive = 25 * time.Second
	}
	if out.InitiateDelay == 0 {
		out.InitiateDelay = time.Second
	}
	return out
}

// Validate reports a missing Self or PrivateKey.
func (c *Config) Validate() error {
	if c.Self == frame.UnknownPeer {
		return errors.New("wireguard: Config.Self is required")
	}
	if c.PrivateKey == ([32]byte{}) {
		return errors.New("wireguard: Config.PrivateKey is required")
	}
	if c.Keepalive != 0 && (c.Keepalive < time.Second || c.Keepalive > 65535*time.Second) {
		return fmt.Errorf("wireguard: Config.Keepalive %v is outside 1s..18h", c.Keepalive)
	}
	return nil
}

// GenerateKey returns a new clamped Curve25519 private key.
func GenerateKey() ([32]byte, error) {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return k, err
	}
	k[0] &= 248
	k[31] = k[31]&127 | 64
	return k, nil
}

// PublicKeyOf returns the Curve25519 public key of private key k.
func PublicKeyOf(k [32]byte) [32]byte {
	var pub [32]byte
	curve25519.ScalarBaseMult(&pub, &k)
	return pub
}

// LoadOrCreateKey reads the private key in path (base64, as `wg genkey`
// writes it), or generates one and writes it there with mode 0600 if the
// file does not exist. Safe against a concurrent creator: the file is
// written under a temporary name, synced and linked into place.
func LoadOrCreateKey(path string) ([32]byte, error) {
	if b, err := os.ReadFile(path); err == nil {
		return ParseKey(string(b))
	} else if !errors.Is(err, os.ErrNotExist) {
		return [32]byte{}, fmt.Errorf("wireguard key: %w", err)
	}
	k, err := GenerateKey()
	if err != nil {
		return k, fmt.Errorf("wireguard key: %w", err)
	}
	err = atomicfile.Create(path, []byte(base64.StdEncoding.EncodeToString(k[:])+"\n"), 0o600)
	if errors.Is(err, os.ErrExist) { // lost a race: use the winner's key
		return LoadOrCreateKey(path)
	}
	if err != nil {
		return [32]byte{}, fmt.Errorf("wireguard key: %w", err)
	}
	return k, nil
}

// ParseKey parses a base64 key (surrounding white space ignored).
func ParseKey(s string) ([32]byte, error) {
	var k [32]byte
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return k, fmt.Errorf("wireguard key: not a base64 32-byte key")
	}
	copy(k[:], b)
	return k, nil
}

// encodeKey returns k in base64, as wg prints keys.
func encodeKey(k [32]byte) string { return base64.StdEncoding.EncodeToString(k[:]) }
