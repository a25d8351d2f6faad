package ovs

import "time"

// Defaults for Config.
const (
	// DefaultIdleTimeout is how long a flow may carry nothing before it
	// is deleted. Weave's fastdp swept every 5 minutes; a shorter time
	// keeps the flow table small and costs one miss per idle pair.
	DefaultIdleTimeout = 60 * time.Second
	// DefaultMaxFlows bounds the flow table: each flow is one MAC pair in
	// one direction, so a flood of pairs cannot grow it without limit.
	DefaultMaxFlows = 65536
)

// Config tunes the ovs backend. The zero value is ready to use.
type Config struct {
	// IdleTimeout: a flow whose packet count has not grown for this long
	// is deleted. If zero, defaults to DefaultIdleTimeout.
	IdleTimeout time.Duration
	// SweepInterval is how often the flows are dumped to find idle ones
	// and to note which carried traffic (Used). If zero, defaults to
	// IdleTimeout/4 or 5 s, whichever is shorter. Negative: never (tests
	// sweep by hand).
	SweepInterval time.Duration
	// MaxFlows: with this many flows installed, misses install nothing
	// more (their frames stay on the userspace path) until some expire.
	// If zero, defaults to DefaultMaxFlows.
	MaxFlows int
	// Now is the clock; if nil, time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = min(c.IdleTimeout/4, 5*time.Second)
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Names are the kernel objects the backend creates for a bridge.
type Names struct {
	// Datapath is the ODP datapath (and its internal netdev).
	Datapath string
	// BridgePort is the veth end on the bridge; DatapathPort its peer,
	// the datapath's netdev vport.
	BridgePort, DatapathPort string
	// VXLAN is the vxlan vport (and the netdev the kernel makes for it).
	VXLAN string
}

// NamesFor returns the names for bridge: <bridge>-dp, -dpb, -dpo and
// -dpvx, the bridge name cut so each fits 15 characters.
func NamesFor(bridge string) Names {
	n := func(suffix string) string {
		b := bridge
		if len(b)+len(suffix) > 15 {
			b = b[:15-len(suffix)]
		}
		return b + suffix
	}
	return Names{Datapath: n("-dp"), BridgePort: n("-dpb"), DatapathPort: n("-dpo"), VXLAN: n("-dpvx")}
}
