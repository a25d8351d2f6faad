package mesh

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
	"github.com/weave-switch/weave-switch/gossip/topology"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	"github.com/weave-switch/weave-switch/link"
)

// Capability keys every router announces.
const (
	CapControlPort = "ctl.port"   // TCP port peers dial
	CapTransports  = "transports" // comma-separated
	// The router compares channel sums (channel.go); a neighbour
	// without it is sent whole channel states instead.
	CapChannelSums = "ctl.chansums"
	// CapQuiet: how long, in whole seconds, the router lets a control
	// connection go silent before it closes it, when the connection's
	// peer announces CapQuiet too (controlTimeout otherwise). A quiet
	// connection is sent something at least every 2/5 of its peer's
	// figure (pace.go).
	CapQuiet = "ctl.quiet"
)

// Mesh is a running control plane. Its exported methods are safe for
// concurrent use.
type Mesh struct {
	cfg Config
	log *slog.Logger
	uid uint64
	inc uint64

	actions chan func()
	closing chan struct{}
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ln      net.Listener
	once    sync.Once

	// Owned by the actor.
	topo    *topology.Topology
	conns   map[frame.PeerName]*connection
	targets map[string]*target // by dial address
	dials   int                // dials under way (maxDials)
	punches map[frame.PeerName]*punchPeer
	// punchResults counts the punches and calls ended, by
	// PunchResults.
	punchResults map[string]uint64
	unreachable  map[frame.PeerName]bool
	recompute    *time.Timer
	gossipTimer  *time.Timer       // armed while deltas or channel changes wait (pace.go)
	gossipArmed  bool              // gossipTimer is running
	gossipFree   time.Time         // when the deltas and digests sent so far are paid for (pace.go)
	dirty        map[uint8]bool    // channels that signalled a change
	chanSums     map[uint8]chanSum // sums of the channels' states, this slow tick
	lastSummary  uint64            // our topology's summary at the last slow tick
	topoChanged  time.Time         // when a slow tick last saw it change
	refused      []ConnStatus      // the latest inbound handshake failures
	lastGossip   time.Time         // when a peer's gossip last arrived
	applied      *topology.Routes  // the routes the data path has now
	reachable    atomic.Pointer[topology.Routes]
	alive        atomic.Pointer[map[frame.PeerName]bool]
	channelLog   *ratelimit.Limiter // refused channel states
	admission    *admission         // inbound handshakes: limits and refusal counts
	refusedLog   *ratelimit.Logger  // inbound connections refused before their handshake
	failedLog    *ratelimit.Logger  // inbound handshakes that failed
	discoverLog  *ratelimit.Logger  // discovered peers not dialed
	punchLog     *ratelimit.Logger  // connections punched through NAT
	routedLog    *ratelimit.Logger  // routed messages refused or dropped
	// forwardLimit bounds the routed messages forwarded for others.
	forwardLimit ratelimit.Limiter

	traffic traffic // control messages, counted by the connections' goroutines

	status struct {
		sync.Mutex
		snap Status
	}
}

// New validates cfg and builds a Mesh; Start runs it.
func New(cfg Config) (*Mesh, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	m := &Mesh{
		cfg:          c,
		log:          c.Logger.With("component", "mesh"),
		uid:          randUint64(),
		inc:          uint64(c.Now().UnixNano()),
		actions:      make(chan func(), 256),
		closing:      make(chan struct{}),
		conns:        map[frame.PeerName]*connection{},
		targets:      map[string]*target{},
		punches:      map[frame.PeerName]*punchPeer{},
		punchResults: map[string]uint64{},
		unreachable:  map[frame.PeerName]bool{},
		dirty:        map[uint8]bool{},
		chanSums:     map[uint8]chanSum{},
		channelLog:   newChannelLog(),
		admission:    newAdmission(c.Now),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.refusedLog = ratelimit.NewLogger(m.log, refusalLogInterval, 1)
	m.failedLog = ratelimit.NewLogger(m.log, refusalLogInterval, 4)
	m.discoverLog = ratelimit.NewLogger(m.log, refusalLogInterval, 1)
	m.punchLog = ratelimit.NewLogger(m.log, refusalLogInterval, 4)
	m.routedLog = ratelimit.NewLogger(m.log, refusalLogInterval, 1)
	m.forwardLimit = ratelimit.Limiter{Interval: time.Second, Burst: maxForwarded}
	topo, err := topology.New(topology.Entry{
		Name: c.Self, Nickname: c.Nickname, UID: m.uid, Incarnation: m.inc, Version: 1, Caps: m.caps(),
	}, &topology.Config{Now: c.Now})
	if err != nil {
		return nil, fmt.Errorf("mesh: %w", err)
	}
	m.topo = topo
	return m, nil
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if v := binary.BigEndian.Uint64(b[:]); v != 0 {
		return v
	}
	return 1
}

func (m *Mesh) caps() map[string]string {
	caps := map[string]string{
		CapControlPort: strconv.Itoa(int(m.cfg.Listen.Port())),
		CapTransports:  m.linkNames(),
		CapChannelSums: "1",
		CapQuiet:       strconv.Itoa(int(quietTimeout / time.Second)),
	}
	for _, l := range m.cfg.Links {
		for k, v := range l.Caps() {
			caps[k] = v
		}
	}
	for k, v := range m.cfg.Caps {
		caps[k] = v
	}
	if m.cfg.Relay {
		caps[topology.CapRelay] = "1"
	}
	return caps
}

// handshakeConfig is our side of a handshake; a dialer says which
// transport it asks for on this link.
func (m *Mesh) handshakeConfig(askTransport string) handshake.Config {
	caps := m.caps()
	if askTransport != "" {
		caps[CapLinkTransport] = askTransport
	}
	return handshake.Config{
		Name: m.cfg.Self, Nickname: m.cfg.Nickname, UID: m.uid, Incarnation: m.inc,
		Password: m.cfg.Password, Caps: caps,
	}
}

// Addr returns the address the control plane listens on (after Start).
func (m *Mesh) Addr() netip.AddrPort { return m.cfg.Listen }

// Start listens and starts the actor and the connection maker.
func (m *Mesh) Start() error {
	lc := net.ListenConfig{KeepAliveConfig: controlKeepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", m.cfg.Listen.String())
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	m.ln = ln
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && m.cfg.Listen.Port() == 0 {
		// Listening on port 0 (tests): announce the port we got.
		m.cfg.Listen = netip.AddrPortFrom(m.cfg.Listen.Addr(), ap.Port())
		if err := m.topo.SetSelf(nil, m.caps()); err != nil {
			ln.Close()
			return fmt.Errorf("control plane: %w", err)
		}
	}
	for _, p := range m.cfg.Peers {
		addr, tr, err := ParsePeerSpec(p)
		if err == nil && tr != "" && m.link(tr) == nil {
			err = fmt.Errorf("transport %q is not offered (this router has %s)", tr, m.linkNames())
		}
		if err != nil {
			ln.Close()
			return fmt.Errorf("--peer %s: %w", p, err)
		}
		m.addTarget(addr, true).transport = tr
	}
	m.wg.Add(2 + len(m.cfg.Channels))
	go m.routineActor()
	go m.routineAccept()
	for id, ch := range m.cfg.Channels {
		go m.routineChannel(id, ch)
	}
	return nil
}

// Close stops accepting, closes every connection and waits for every
// goroutine. It is idempotent.
func (m *Mesh) Close() error {
	m.once.Do(func() {
		close(m.closing)
		m.cancel()
		if m.ln != nil {
			m.ln.Close()
		}
		m.wg.Wait()
	})
	return nil
}

// post runs fn on the actor; it returns false if the mesh is closing.
func (m *Mesh) post(fn func()) bool {
	select {
	case m.actions <- fn:
		return true
	case <-m.closing:
		return false
	}
}

// call runs fn on the actor and waits for it.
func (m *Mesh) call(ctx context.Context, fn func()) error {
	done := make(chan struct{})
	if !m.post(func() { fn(); close(done) }) {
		return net.ErrClosed
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-m.closing:
		return net.ErrClosed
	}
}

// GossipInterval is the slow tick: how often a busy control connection
// carries a summary of the topology and a ping (a quiet one less often,
// pace.go).
const GossipInterval = 2 * time.Second

func (m *Mesh) routineActor() {
	defer m.wg.Done()
	m.log.Debug("routineActor: started")
	defer m.log.Debug("routineActor: stopped")
	m.gossipTimer = time.NewTimer(time.Hour)
	m.gossipTimer.Stop()
	defer m.gossipTimer.Stop()
	heartbeat := time.NewTicker(m.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	slow := time.NewTicker(GossipInterval)
	defer slow.Stop()
	slowTicks := 0
	m.recompute = time.NewTimer(time.Hour)
	defer m.recompute.Stop()
	m.tryConnect()
	m.publishStatus()
	for {
		select {
		case <-m.closing:
			for _, c := range m.conns {
				c.close()
			}
			for _, c := range m.conns {
				<-c.done
			}
			return
		case fn := <-m.actions:
			fn()
		case <-m.gossipTimer.C:
			m.gossip()
		case <-heartbeat.C:
			m.cfg.Router.SendHeartbeats()
			m.checkLinks()
		case <-slow.C:
			if !m.cfg.NoDiscovery {
				m.learnTargets()
			}
			m.tryConnect()
			m.punchDue()
			busy := m.slowGossip()
			slowTicks++
			for _, name := range m.topo.GC(m.cfg.Now()) {
				n := m.cfg.Router.ForgetMACs(name)
				m.log.Info("peer gone", "peer", name.String(), "macs_purged", n)
			}
			if busy || slowTicks%quietTicks == 0 {
				m.publishStatus()
			}
		case <-m.recompute.C:
			m.applyRoutes()
		}
		m.gossipPending()
	}
}

// Reachable reports whether peer p is reachable over established links
// now (by the latest routes). It is safe for concurrent use.
func (m *Mesh) Reachable(p frame.PeerName) bool {
	r := m.reachable.Load()
	return r != nil && r.Reachable(p)
}

// Alive reports whether peer p shows signs of life: it is reachable, or
// we or a reachable peer hold a control connection to it (even one whose
// data path has not answered yet). Components that must not act on a
// live peer as if it were dead (IPAM's rmpeer) ask this. It is safe for
// concurrent use.
func (m *Mesh) Alive(p frame.PeerName) bool {
	if m.Reachable(p) {
		return true
	}
	a := m.alive.Load()
	return a != nil && (*a)[p]
}

// updateAlive records the peers with a control connection to us or to a
// reachable peer. Runs on the actor.
func (m *Mesh) updateAlive(routes *topology.Routes) {
	alive := map[frame.PeerName]bool{}
	for name := range m.conns {
		alive[name] = true
	}
	for _, e := range m.topo.Entries() {
		if e.Name != m.cfg.Self && (routes == nil || !routes.Reachable(e.Name)) {
			continue
		}
		for _, c := range e.Conns {
			alive[c.Peer] = true
		}
	}
	m.alive.Store(&alive)
}

// scheduleRoutes coalesces route recomputation (about 100 ms).
func (m *Mesh) scheduleRoutes() {
	m.recompute.Reset(100 * time.Millisecond)
}

// applyRoutes recomputes routes and data-path peers from the topology and
// purges the MACs of peers that became unreachable.
func (m *Mesh) applyRoutes() {
	routes := m.topo.Routes()
	m.cfg.Router.SetRoutes(routes)
	m.applied = routes
	m.reachable.Store(routes)
	m.updateAlive(routes)
	for _, e := range m.topo.Entries() {
		if e.Name == m.cfg.Self {
			continue
		}
		if routes.Reachable(e.Name) {
			delete(m.unreachable, e.Name)
		} else if !m.unreachable[e.Name] {
			m.unreachable[e.Name] = true
			if n := m.cfg.Router.ForgetMACs(e.Name); n > 0 {
				m.log.Info("peer unreachable: MACs purged", "peer", e.Name.String(), "macs", n)
			}
		}
	}
	m.punchDue()
	m.publishStatus()
}

// updateSelf writes our connections into the topology and the data path.
func (m *Mesh) updateSelf() {
	var conns []topology.Conn
	var links []link.Peer
	for name, c := range m.conns {
		conns = append(conns, topology.Conn{Peer: name, Addr: c.addr, Outbound: c.outbound, Established: c.established})
		if c.dataEP != nil {
			links = append(links, link.Peer{Name: name, Endpoint: c.dataEP, Transport: c.link.Transport(), Kind: c.link.Name(), Encrypted: c.dataEncrypted})
		}
	}
	m.cfg.Router.SetPeers(links)
	if err := m.topo.SetSelf(conns, m.caps()); err != nil {
		m.log.Error("topology refused our entry", "err", err)
	}
	m.scheduleRoutes()
}

// checkLinks turns data-path heartbeat answers into link states: a
// link is up once a ping was answered, until a ping stays unanswered for
// LinkTimeout. An idle link is pinged seldom (router.Config.IdleHeartbeat)
// and stays up between its answered pings.
func (m *Mesh) checkLinks() {
	health := m.cfg.Router.LinkHealth()
	now := m.cfg.Now()
	changed := false
	for name, c := range m.conns {
		h := health[name]
		up := !h.LastPong.IsZero() && (h.Unanswered.IsZero() || now.Sub(h.Unanswered) <= m.cfg.LinkTimeout)
		c.rtt, c.endpoint = h.RTT, h.Endpoint
		if c.viaPunch && !up && (c.wasUp || now.Sub(c.since) >= 2*m.cfg.LinkTimeout) {
			// The mappings it crossed are gone, or never let the data
			// path through: punch anew through the relay.
			m.dropConn(c, fmt.Sprintf("punched link's data path silent for %s", m.cfg.LinkTimeout))
			continue
		}
		if up != c.established {
			c.established = up
			changed = true
			if up {
				m.log.Info("link established", "peer", name.String(), "nickname", c.hello.Nickname, "rtt", h.RTT)
				c.failure = ""
				c.wasUp = true
			} else {
				c.failure = fmt.Sprintf("data path silent for %s", m.cfg.LinkTimeout)
				m.log.Warn("link down: data path not answering", "peer", name.String(), "addr", c.addr)
			}
		}
	}
	if changed {
		m.updateSelf()
	}
}

// refusalLogInterval: refused inbound connections are logged at most once
// (admission) or a few times (failed handshakes) per interval, each line
// with the count of those not logged before it.
const refusalLogInterval = 10 * time.Second

func (m *Mesh) routineAccept() {
	defer m.wg.Done()
	for {
		nc, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closing:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Warn("accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		from := parseHostPort(nc).Addr()
		if ok, reason := m.admission.admit(from); !ok {
			nc.Close()
			m.refusedLog.Log(slog.LevelWarn, "refused inbound connection", "addr", nc.RemoteAddr().String(), "reason", reason)
			continue
		}
		m.wg.Add(1)
		go m.inbound(nc, from)
	}
}

// inbound runs the handshake of an admitted inbound connection, bounded by
// the handshake's timeout, and hands the connection to the actor.
func (m *Mesh) inbound(nc net.Conn, from netip.Addr) {
	defer m.wg.Done()
	defer m.admission.release(from)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := context.AfterFunc(m.ctx, cancel)
	defer stop()
	remote := nc.RemoteAddr().String()
	hc, err := handshake.Server(ctx, nc, m.handshakeConfig(""))
	if err != nil {
		reason := RefusedHandshakeErr
		if errors.Is(err, handshake.ErrTimeout) {
			reason = RefusedTimeout
		}
		m.admission.count(reason)
		m.failedLog.Log(slog.LevelWarn, "refused inbound connection", "addr", remote, "reason", reason, "err", err)
		m.post(func() { m.noteRefusal(remote, err) })
		return
	}
	if !m.post(func() { m.register(hc, false, "") }) {
		hc.Close()
	}
}

func parseHostPort(nc net.Conn) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

const maxRefusals = 8

// noteRefusal keeps the latest inbound handshake failures for status.
func (m *Mesh) noteRefusal(addr string, err error) {
	m.refused = append(m.refused, ConnStatus{
		Direction: "inbound", Address: addr, State: "refused", Reason: err.Error(), Since: m.cfg.Now(),
	})
	if len(m.refused) > maxRefusals {
		m.refused = m.refused[len(m.refused)-maxRefusals:]
	}
}
