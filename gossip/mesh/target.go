package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
)

// target is an address the connection maker dials.
type target struct {
	addr      string
	transport string // asked for on this link; empty: the default
	static    bool   // given by the user: never dropped by itself
	peer      frame.PeerName
	learnedAs frame.PeerName // the peer gossip said is at addr (discovered targets)
	state     string         // "connecting", "connected", "retrying", "backoff", "failed"
	reason    string
	attempts  int
	nextTry   time.Time
	dialing   bool
}

const (
	minBackoff = time.Second
	maxBackoff = 60 * time.Second
	// A discovered target that failed unreachableAfter dials in a row
	// while its peer is alive (other routers hold connections to it) is
	// not reachable from here: behind NAT, most likely, or a firewall.
	// It is tried again only every unreachableBackoff; the peer is
	// reached through the mesh meanwhile, and if it dials us the target
	// counts as connected.
	unreachableAfter   = 2
	unreachableBackoff = 10 * time.Minute
	// connectTimeout bounds the TCP connect of a dial (the handshake
	// has the rest of the dial's 15 s): an address behind NAT drops the
	// SYNs, and waiting longer tells nothing more.
	connectTimeout = 5 * time.Second
)

func (t *target) connectedAs(p frame.PeerName) {
	t.peer, t.state, t.reason, t.attempts, t.dialing = p, "connected", "", 0, false
}

// fail records a failed or lost connection and schedules a retry with
// exponential backoff and ±50 % jitter; final failures are not retried.
func (t *target) fail(m *Mesh, reason string, final bool) {
	t.dialing = false
	t.reason = reason
	if final {
		t.state = "failed"
		t.nextTry = time.Time{}
		return
	}
	t.attempts++
	d := minBackoff << min(t.attempts-1, 6)
	d = min(d, maxBackoff)
	t.state = "retrying"
	if !t.static && t.attempts >= unreachableAfter && t.learnedAs != frame.UnknownPeer && m.Alive(t.learnedAs) {
		d = unreachableBackoff
		t.state = "backoff"
		via := "the mesh"
		if m.applied != nil {
			if hop, ok := m.applied.NextHop(t.learnedAs); ok {
				via = "relay " + hop.String()
			}
		}
		t.reason = fmt.Sprintf("not reachable from here, behind NAT or a firewall? (%d dials failed, last: %s); %s is alive, reached via %s",
			t.attempts, reason, t.learnedAs, via)
	}
	d = time.Duration(float64(d) * (0.5 + rand.Float64()))
	t.nextTry = m.cfg.Now().Add(d)
}

// normaliseTarget adds the default port to HOST.
func normaliseTarget(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	if ap, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(ap, 6783).String()
	}
	return net.JoinHostPort(s, "6783")
}

// addTarget records a dial target; it runs before Start or on the actor.
func (m *Mesh) addTarget(addr string, static bool) *target {
	addr = normaliseTarget(addr)
	if t := m.targets[addr]; t != nil {
		t.static = t.static || static
		return t
	}
	t := &target{addr: addr, static: static, state: "connecting"}
	m.targets[addr] = t
	return t
}

// tryConnect dials every target that is due.
func (m *Mesh) tryConnect() {
	now := m.cfg.Now()
	for _, t := range m.targets {
		if t.dialing || t.state == "failed" || t.state == "connected" && m.conns[t.peer] != nil {
			continue
		}
		if t.peer != frame.UnknownPeer && m.conns[t.peer] != nil {
			t.state = "connected"
			continue
		}
		if !t.static && t.learnedAs != frame.UnknownPeer && m.conns[t.learnedAs] != nil {
			continue // connected otherwise meanwhile (punched)
		}
		if !t.nextTry.IsZero() && now.Before(t.nextTry) {
			continue
		}
		if m.dials >= maxDials {
			continue // dialled when a dial under way ends
		}
		m.dials++
		t.dialing = true
		t.state = "connecting"
		ask := t.transport
		if ask == "" {
			ask = m.cfg.DefaultTransport
		}
		m.wg.Add(1)
		go m.dial(t.addr, ask)
	}
}

// dialFrom is the local address of a dial to addr: the listen address's
// IP (any port) if it is a specific one of addr's family, so that the
// peer sees connections come from the address this router announces
// (a host with several addresses, or several routers on one host, each
// with its own); nil, the route's source address, otherwise.
func (m *Mesh) dialFrom(addr string) net.Addr {
	l := m.cfg.Listen.Addr().Unmap()
	to, err := netip.ParseAddrPort(addr)
	if l.IsUnspecified() || err != nil || to.Addr().Unmap().Is4() != l.Is4() || to.Addr().IsLoopback() != l.IsLoopback() {
		return nil
	}
	return &net.TCPAddr{IP: l.AsSlice()}
}

func (m *Mesh) dial(addr, ask string) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, 15*time.Second)
	defer cancel()
	d := net.Dialer{Timeout: connectTimeout, LocalAddr: m.dialFrom(addr), KeepAliveConfig: controlKeepAlive}
	nc, err := d.DialContext(ctx, "tcp", addr)
	var hc *handshake.Conn
	if err == nil {
		hc, err = handshake.Client(ctx, nc, m.handshakeConfig(ask))
	}
	posted := m.post(func() {
		m.dials--
		defer m.tryConnect() // the targets waiting for a dial slot
		t := m.targets[addr]
		if err != nil {
			if t != nil {
				t.fail(m, err.Error(), false)
				m.log.Debug("connect failed", "addr", addr, "err", err, "retry_in", time.Until(t.nextTry).Round(time.Millisecond))
				m.punchDue() // its peer may be called now
			}
			return
		}
		if t == nil {
			hc.Close() // forgotten while dialing
			return
		}
		m.register(hc, true, addr)
	})
	if !posted && hc != nil {
		hc.Close() // closing
	}
}

// maxDials bounds the dials under way at once: a mesh that learns
// hundreds of peers at once (or gossip naming hundreds of addresses)
// dials them a few dozen at a time, not with a goroutine and a socket
// each.
const maxDials = 32

// maxDiscovered bounds the dial targets learned from gossip: the
// addresses in gossiped entries are not to turn the router into a
// scanner or a sink of retrying dials.
const maxDiscovered = 1024

// discover adds targets for peers known from gossip that we have no
// connection to, drops those no entry names any more, and dials.
func (m *Mesh) discover() {
	if m.cfg.NoDiscovery {
		return
	}
	m.learnTargets()
	m.tryConnect()
}

// learnTargets brings the discovered targets in line with the topology:
// a target for each peer we have no connection to, at the IP another
// peer sees it at and its control port, up to maxDiscovered; discovered
// targets that no entry names any more (their peer was garbage-collected,
// or is connected elsewhere) go, unless a dial or a connection uses them.
func (m *Mesh) learnTargets() {
	entries := m.topo.Entries()
	ports := map[frame.PeerName]string{}
	for _, e := range entries {
		ports[e.Name] = e.Caps[CapControlPort]
	}
	want := map[string]frame.PeerName{}
	for _, e := range entries {
		for _, c := range e.Conns {
			if c.Peer == m.cfg.Self || m.conns[c.Peer] != nil || ports[c.Peer] == "" {
				continue
			}
			ap, err := netip.ParseAddrPort(c.Addr)
			if err != nil {
				continue
			}
			if _, err := strconv.ParseUint(ports[c.Peer], 10, 16); err != nil {
				continue
			}
			want[net.JoinHostPort(ap.Addr().Unmap().String(), ports[c.Peer])] = c.Peer
		}
	}
	discovered := 0
	for addr, t := range m.targets {
		switch {
		case t.static:
		case t.dialing || t.peer != frame.UnknownPeer && m.conns[t.peer] != nil:
			discovered++
		case want[addr] == frame.UnknownPeer:
			delete(m.targets, addr)
		default:
			discovered++
		}
	}
	for addr, peer := range want {
		if m.targets[addr] != nil {
			continue
		}
		if discovered >= maxDiscovered {
			m.discoverLog.Log(slog.LevelWarn, "too many peers discovered: not dialing more", "max", maxDiscovered)
			break
		}
		m.addTarget(addr, false).learnedAs = peer
		discovered++
		m.log.Info("discovered peer", "peer", peer.String(), "addr", addr)
	}
}

// Connect adds a target at run time (weave-switch connect), asking for
// transport tr on that link (empty: the default).
func (m *Mesh) Connect(ctx context.Context, addr, tr string) error {
	if tr != "" && m.link(tr) == nil {
		return fmt.Errorf("connect: this router does not offer transport %q (it has %s)", tr, m.linkNames())
	}
	return m.call(ctx, func() {
		t := m.addTarget(addr, true)
		if tr != "" {
			t.transport = tr
		}
		if t.state == "failed" || t.state == "backoff" {
			t.state, t.nextTry, t.attempts = "connecting", time.Time{}, 0
		}
		m.tryConnect()
	})
}

// Forget removes a target and drops its connection (weave-switch forget).
// It reports whether the target was known.
func (m *Mesh) Forget(ctx context.Context, addr string) (bool, error) {
	found := false
	err := m.call(ctx, func() {
		addr = normaliseTarget(addr)
		t := m.targets[addr]
		if t == nil {
			return
		}
		found = true
		delete(m.targets, addr)
		if c := m.conns[t.peer]; c != nil && c.target == addr {
			m.dropConn(c, "forgotten")
		}
	})
	return found, err
}
