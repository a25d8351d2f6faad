package kernel

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
)

// Controller timing defaults.
const (
	// DefaultHeartbeatInterval is how often each link's fast path is
	// probed.
	DefaultHeartbeatInterval = 500 * time.Millisecond
	// DefaultDownAfter is how long a link may go without an answered
	// fast-path heartbeat before it leaves LinkUp.
	DefaultDownAfter = 2 * time.Second
)

// LinkInput is what the router knows of one direct neighbour.
type LinkInput = link.FastLink

// LinkStatus is one link's fast-path state for status.
type LinkStatus struct {
	Peer  frame.PeerName
	Addr  netip.Addr
	State LinkState
	// Reason is why the link is in State; Since is when it got there.
	Reason string
	Since  time.Time
	// Fallbacks counts LinkUp -> not up transitions, Recoveries the
	// reverse.
	Fallbacks, Recoveries uint64
}

// ControllerConfig configures a Controller.
type ControllerConfig struct {
	Self     frame.PeerName
	Datapath Datapath
	// Fence, if not nil, is kept in step with the View: the fast path's
	// port accepts datagrams only from the links that are not LinkOff.
	Fence Fence
	// Unencrypted: the fast path may carry links that are encrypted in
	// userspace, unencrypted (--fastpath-unencrypted).
	Unencrypted bool
	// DownAfter: see DefaultDownAfter.
	DownAfter time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

// Controller turns the router's state (links, heartbeat answers, MAC
// table) into Views, applies them to the Datapath, and keeps each link's
// state and the reason for its last change. It implements Decider from
// the last View. Sync is called from one goroutine; the other methods are
// safe for concurrent use.
type Controller struct {
	cfg  ControllerConfig
	view atomic.Pointer[View]

	mu    sync.Mutex
	links map[frame.PeerName]*LinkStatus

	fallbacks, recoveries, syncErrors atomic.Uint64
}

// NewController returns a Controller for cfg.
func NewController(cfg ControllerConfig) *Controller {
	if cfg.DownAfter <= 0 {
		cfg.DownAfter = DefaultDownAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Datapath == nil {
		cfg.Datapath = NullDatapath{}
	}
	c := &Controller{cfg: cfg, links: map[frame.PeerName]*LinkStatus{}}
	c.view.Store(&View{Self: cfg.Self})
	return c
}

// Datapath returns the backend.
func (c *Controller) Datapath() Datapath { return c.cfg.Datapath }

// DownAfter returns the configured bound.
func (c *Controller) DownAfter() time.Duration { return c.cfg.DownAfter }

// LinkDecision is the pure state function: the state a link with input in
// should be in at now, for a backend named backend, and why.
func LinkDecision(backend string, in LinkInput, now time.Time, downAfter time.Duration) (LinkState, string) {
	switch {
	case backend == ModeUserspace:
		return LinkOff, "datapath userspace"
	case in.Encrypted:
		return LinkOff, "encrypted link: the kernel backend does not encrypt"
	case !in.Addr.IsValid():
		return LinkOff, "no underlay address"
	case !in.Addr.Unmap().Is4():
		return LinkOff, "IPv6 underlay not supported by the fast path"
	case in.LastAck.IsZero():
		return LinkProbe, "no fast-path heartbeat answered yet"
	case now.Sub(in.LastAck) > downAfter:
		return LinkProbe, fmt.Sprintf("fast-path heartbeats unanswered for %v", now.Sub(in.LastAck).Round(time.Millisecond))
	}
	return LinkUp, "fast-path heartbeats answered"
}

// Sync computes the View from links and macs (MAC -> owning peer, Self
// for local; the Controller keeps the map, the caller must not modify it
// afterwards) and applies it: to the Fence, if any, then to the backend.
// It returns their errors, if any; the next Sync retries.
func (c *Controller) Sync(links []LinkInput, macs map[frame.MAC]frame.PeerName) error {
	now := c.cfg.Now()
	v := &View{Self: c.cfg.Self, Links: make(map[frame.PeerName]Link, len(links)), MACs: macs}
	seen := make(map[frame.PeerName]bool, len(links))
	c.mu.Lock()
	for _, in := range links {
		if in.Peer == frame.UnknownPeer || in.Peer == c.cfg.Self || seen[in.Peer] {
			continue
		}
		seen[in.Peer] = true
		if c.cfg.Unencrypted {
			in.Encrypted = false
		}
		st, reason := LinkDecision(c.cfg.Datapath.Name(), in, now, c.cfg.DownAfter)
		addr := in.Addr.Unmap()
		v.Links[in.Peer] = Link{Addr: addr, State: st}
		ls, ok := c.links[in.Peer]
		if !ok {
			ls = &LinkStatus{Peer: in.Peer, State: st, Reason: reason, Since: now, Addr: addr}
			c.links[in.Peer] = ls
			continue
		}
		ls.Addr = addr
		if ls.State == st {
			if st != LinkUp {
				ls.Reason = reason // keeps the "unanswered for" figure fresh
			}
			continue
		}
		switch {
		case ls.State == LinkUp:
			ls.Fallbacks++
			c.fallbacks.Add(1)
			c.cfg.Logger.Warn("fast path: link falls back to userspace", "peer", in.Peer.String(), "to", st.String(), "reason", reason)
		case st == LinkUp:
			ls.Recoveries++
			c.recoveries.Add(1)
			c.cfg.Logger.Info("fast path: link on the fast path", "peer", in.Peer.String(), "addr", addr.String(), "reason", reason)
		}
		ls.State, ls.Reason, ls.Since = st, reason, now
	}
	for p := range c.links {
		if !seen[p] {
			delete(c.links, p)
		}
	}
	c.mu.Unlock()
	c.view.Store(v)
	var fenceErr error
	if c.cfg.Fence != nil {
		// Before the backend: a peer's heartbeats answer to the port.
		if fenceErr = c.cfg.Fence.Allow(FenceAddrs(v)); fenceErr != nil {
			c.syncErrors.Add(1)
		}
	}
	if err := c.cfg.Datapath.Update(v); err != nil {
		c.syncErrors.Add(1)
		return errors.Join(fenceErr, fmt.Errorf("fast path %s: %w", c.cfg.Datapath.Name(), err))
	}
	return fenceErr
}

// View returns the last computed View.
func (c *Controller) View() *View { return c.view.Load() }

// Links returns every link's status, sorted by peer.
func (c *Controller) Links() []LinkStatus {
	c.mu.Lock()
	out := make([]LinkStatus, 0, len(c.links))
	for _, l := range c.links {
		out = append(out, *l)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b LinkStatus) int { return cmp.Compare(a.Peer, b.Peer) })
	return out
}

// Probed returns the peers whose fast path should get heartbeats now
// (LinkProbe and LinkUp), with their addresses.
func (c *Controller) Probed() []frame.PeerName {
	v := c.view.Load()
	var out []frame.PeerName
	for p, l := range v.Links {
		if l.State != LinkOff {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Counters returns fallbacks (LinkUp lost), recoveries (LinkUp regained)
// and failed Syncs, since start.
func (c *Controller) Counters() (fallbacks, recoveries, syncErrors uint64) {
	return c.fallbacks.Load(), c.recoveries.Load(), c.syncErrors.Load()
}

// Decide implements Decider from the last View.
func (c *Controller) Decide(h frame.Ethernet, from frame.PeerName) Decision {
	v := c.view.Load()
	if len(h) < frame.EthernetHeaderSize {
		return Decision{}
	}
	dst := h.Dst()
	if dst.IsMulticast() {
		return Decision{}
	}
	if dst == HeartbeatMAC(v.Self) {
		return Decision{Action: Local, Peer: v.Self}
	}
	if from == frame.UnknownPeer {
		for p, l := range v.Links {
			if l.State != LinkOff && dst == HeartbeatMAC(p) {
				return Decision{Action: Remote, Peer: p, Addr: l.Addr}
			}
		}
		if p, l, ok := v.Offloaded(dst); ok {
			return Decision{Action: Remote, Peer: p, Addr: l.Addr}
		}
		return Decision{}
	}
	if owner, ok := v.MACs[dst]; ok && owner == v.Self {
		return Decision{Action: Local, Peer: v.Self}
	}
	return Decision{}
}

var _ Decider = (*Controller)(nil)
