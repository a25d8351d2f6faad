package topology

import (
	"errors"
	"time"
)

// Config tunes a Topology. The zero value is ready to use.
type Config struct {
	// GCGrace is how long a peer must stay unreachable from us before GC
	// removes it. If zero, defaults to 1 minute.
	GCGrace time.Duration
	// TombstoneTTL is how long a removed peer's last (Incarnation,
	// Version) is remembered, so that copies still circulating in gossip
	// do not resurrect it; a newer entry from the peer itself always gets
	// through. If zero, defaults to 10 minutes.
	TombstoneTTL time.Duration
	// MaxClockSkew is how far ahead of our clock (Now) an entry's
	// Incarnation may be: Merge refuses entries further ahead (counted as
	// DropAhead), so that no stamp can be forged past what the owner can
	// outbid. A peer whose clock runs further ahead than this cannot join.
	// If zero, defaults to 1 hour.
	MaxClockSkew time.Duration
	// Now is the clock used to date tombstones made by Forget and to
	// bound Incarnations (MaxClockSkew). If nil, defaults to time.Now.
	Now func() time.Time
}

// Defaults for Config fields left zero.
const (
	DefaultGCGrace      = time.Minute
	DefaultTombstoneTTL = 10 * time.Minute
	DefaultMaxClockSkew = time.Hour
)

// Clone returns a copy of c; nil-safe.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	cc := *c
	return &cc
}

// Validate reports an error for negative durations.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	if c.GCGrace < 0 || c.TombstoneTTL < 0 || c.MaxClockSkew < 0 {
		return errors.New("topology: negative GCGrace, TombstoneTTL or MaxClockSkew")
	}
	return nil
}

// withDefaults returns a copy of c with zero fields defaulted; nil-safe.
func (c *Config) withDefaults() Config {
	var cc Config
	if c != nil {
		cc = *c
	}
	if cc.GCGrace == 0 {
		cc.GCGrace = DefaultGCGrace
	}
	if cc.TombstoneTTL == 0 {
		cc.TombstoneTTL = DefaultTombstoneTTL
	}
	if cc.MaxClockSkew == 0 {
		cc.MaxClockSkew = DefaultMaxClockSkew
	}
	if cc.Now == nil {
		cc.Now = time.Now
	}
	return cc
}
