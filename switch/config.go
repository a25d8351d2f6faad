package ethswitch

import (
	"errors"
	"fmt"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Defaults and limits for Config.
const (
	// DefaultMaxEntries is the MAC table bound when Config.MaxEntries is 0.
	DefaultMaxEntries = 8192
	// MaxMaxEntries is the largest accepted Config.MaxEntries. The table is
	// allocated up front at 76 to 108 bytes per entry (the index is a power
	// of two): 608 KiB for the default 8192 entries, 320 MiB at this limit.
	MaxMaxEntries = 1 << 22
	// DefaultMaxAge is the idle time after which an entry expires when
	// Config.MaxAge is 0: longer than typical ARP caches, as in Weave Net.
	DefaultMaxAge = 10 * time.Minute
	// DefaultEchoWindow is Config.EchoWindow when it is 0.
	DefaultEchoWindow = 2 * time.Second
)

// Config configures a Switch. The zero value is invalid only because Self
// is required; every other field has a default.
type Config struct {
	// Self is this router's peer name. Required: it must be non-zero and
	// fit in 48 bits.
	Self frame.PeerName
	// MaxEntries bounds the number of MACs in the table. The table is
	// allocated once, at this size. If zero, defaults to
	// DefaultMaxEntries (8192). It must not be negative nor exceed
	// MaxMaxEntries.
	MaxEntries int
	// MaxAge is how long an entry may stay idle before Expire removes it.
	// If zero, defaults to DefaultMaxAge (10 minutes). It must not be
	// negative.
	MaxAge time.Duration
	// EchoWindow is how recently a remote peer must have been heard from
	// for a locally captured frame with that peer's source MAC to count as
	// an echo of a frame this router injected (dropped, entry not moved).
	// After the remote owner has been silent this long, the MAC moves to
	// Self. If zero, defaults to DefaultEchoWindow (2 seconds). It must not
	// be negative.
	EchoWindow time.Duration
	// Now returns the current time. If nil, defaults to time.Now. Tests
	// inject a fake clock. It is called once per batch and must be safe for
	// concurrent use.
	Now func() time.Time
}

// Validation errors returned (wrapped) by Config.Validate and New.
var (
	ErrNoSelf        = errors.New("ethswitch: Self peer name is required")
	ErrInvalidConfig = errors.New("ethswitch: invalid config")
)

// withDefaults returns a copy of c (which may be nil) with zero fields set
// to their defaults.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.MaxEntries == 0 {
		out.MaxEntries = DefaultMaxEntries
	}
	if out.MaxAge == 0 {
		out.MaxAge = DefaultMaxAge
	}
	if out.EchoWindow == 0 {
		out.EchoWindow = DefaultEchoWindow
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	return out
}

// Validate reports the first problem with c, after defaults are applied,
// as an error that Is ErrNoSelf or ErrInvalidConfig.
func (c Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.Self == frame.UnknownPeer:
		return ErrNoSelf
	case d.Self>>48 != 0:
		return fmt.Errorf("%w: Self %#x does not fit in 48 bits", ErrInvalidConfig, uint64(d.Self))
	case d.MaxEntries < 0:
		return fmt.Errorf("%w: MaxEntries %d is negative", ErrInvalidConfig, d.MaxEntries)
	case d.MaxEntries > MaxMaxEntries:
		return fmt.Errorf("%w: MaxEntries %d exceeds %d", ErrInvalidConfig, d.MaxEntries, MaxMaxEntries)
	case d.MaxAge < 0:
		return fmt.Errorf("%w: MaxAge %v is negative", ErrInvalidConfig, d.MaxAge)
	case d.EchoWindow < 0:
		return fmt.Errorf("%w: EchoWindow %v is negative", ErrInvalidConfig, d.EchoWindow)
	}
	return nil
}

// refreshInterval is how stale an entry's timestamp may get before a frame
// refreshes it: min(MaxAge/10, EchoWindow/2), at least 1ns. Keeping it at
// most EchoWindow/2 keeps echo detection reliable for echoes that arrive
// within EchoWindow/2 of the injected frame.
func (c Config) refreshInterval() time.Duration {
	r := min(c.MaxAge/10, c.EchoWindow/2)
	return max(r, 1)
}
