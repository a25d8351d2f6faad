package handshake

import (
	"fmt"
	"maps"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Protocol versions this package speaks. The preamble carries a range so
// that a later release can speak several versions and pick the highest
// common one.
const (
	MinVersion uint16 = 1
	MaxVersion uint16 = 1
)

// Limits and defaults.
const (
	// DefaultPort is the TCP port of control connections.
	DefaultPort = 6783
	// DefaultTimeout bounds the whole handshake when Config.Timeout is 0.
	DefaultTimeout = 10 * time.Second
	// MaxMessageSize is the largest payload WriteMsg sends and ReadMsg
	// accepts: 1 MiB.
	MaxMessageSize = 1 << 20
	// MaxHelloSize bounds the encoded Hello (identity plus capabilities).
	MaxHelloSize = 64 << 10
	// MaxNicknameLen bounds Config.Nickname, in bytes.
	MaxNicknameLen = 255
	// MaxCapKeyLen and MaxCapValueLen bound each capability.
	MaxCapKeyLen   = 255
	MaxCapValueLen = 65535
)

// Config describes the local router for one handshake. The zero value is
// invalid: Name and UID are required. A Config is only read, so one value
// may be shared by concurrent handshakes.
type Config struct {
	// Name is this router's peer name. Required: non-zero.
	Name frame.PeerName
	// Nickname is a human-readable name (usually the hostname), shown in
	// status. At most MaxNicknameLen bytes of UTF-8. May be empty.
	Nickname string
	// UID is random and new on every start of the router process: peers
	// use it to notice a restart. Required: non-zero.
	UID uint64
	// Incarnation is a counter the router may bump to supersede earlier
	// state of the same UID. Opaque here.
	Incarnation uint64
	// Password is the shared secret of the network. If empty, the control
	// connection is unencrypted and unauthenticated, and peers with a
	// password refuse it. Otherwise both routers must hold the same bytes
	// (the caller trims a password file's trailing newline). The bytes are
	// stretched with Argon2id once per process and cached (see doc.go).
	Password []byte
	// Caps are the capabilities announced to the peer (transports and
	// their parameters and public keys, fast path support, ...). Opaque
	// here. Keys are 1..MaxCapKeyLen bytes of UTF-8, values at most
	// MaxCapValueLen bytes; the encoded Hello must fit in MaxHelloSize.
	// With a password they travel encrypted. May be nil.
	Caps map[string]string
	// Timeout bounds the whole handshake: a peer that stalls is dropped
	// after it. If zero, defaults to DefaultTimeout (10s). Must not be
	// negative.
	Timeout time.Duration

	// minVersion and maxVersion override the version range; only tests
	// set them, to exercise negotiation. Zero means MinVersion/MaxVersion.
	minVersion, maxVersion uint16
}

// withDefaults returns a copy of c with zero fields set to their defaults.
// It is nil-safe.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.Timeout == 0 {
		out.Timeout = DefaultTimeout
	}
	if out.minVersion == 0 {
		out.minVersion = MinVersion
	}
	if out.maxVersion == 0 {
		out.maxVersion = MaxVersion
	}
	return out
}

// Validate reports whether c (after defaults) can be used: a clear error
// naming the first bad field, or nil.
func (c *Config) Validate() error {
	d := c.withDefaults()
	if d.Timeout < 0 {
		return fmt.Errorf("handshake config: Timeout %v is negative", d.Timeout)
	}
	if d.minVersion > d.maxVersion {
		return fmt.Errorf("handshake config: version range %d..%d is empty", d.minVersion, d.maxVersion)
	}
	if _, err := d.hello().append(nil); err != nil {
		return fmt.Errorf("handshake config: %w", err)
	}
	return nil
}

// Clone returns a deep copy of c (Password and Caps are copied).
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := *c
	if c.Password != nil {
		out.Password = append([]byte(nil), c.Password...)
	}
	out.Caps = maps.Clone(c.Caps)
	return &out
}

// hello is what this router announces.
func (c *Config) hello() Hello {
	return Hello{
		Name:        c.Name,
		Nickname:    c.Nickname,
		UID:         c.UID,
		Incarnation: c.Incarnation,
		Caps:        c.Caps,
		Encrypted:   len(c.Password) > 0,
	}
}
