package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
)

// Hole punching. Two routers behind NAT cannot dial each other: each NAT
// drops the other's SYN as new inbound traffic. But if both send a SYN to
// the other at about the same time, a NAT that keeps the source port of
// a new mapping while it is free (Linux's masquerade does) and lets in
// what answers an outbound connection lets the other's SYN in as the
// answer to its own: the two SYNs cross and make one TCP connection (a
// simultaneous open).
//
// The two sides agree on the moment with a message, not a clock. A
// router that reaches a live peer only through others (the routes' next
// hop is another router, and no first plain dial to it is under way)
// sends it a call, a routed message (routed.go) that the routers between
// carry over their authenticated control connections, with its
// candidate endpoints: its own interface addresses with its control
// port, and the addresses its neighbours see it at with the port it will
// punch from, a new one per call (so that no NAT on the way holds state
// of an earlier punch for the new one's address pair). The peer answers
// with its own candidates and starts punching at once; the caller starts
// when the answer arrives. Each side connects from its punching port to
// every candidate of the other punchAttempts times, punchTimeout +
// punchRetry apart, each connect bounded by punchTimeout (one
// retransmission of the SYN), each attempt from and to the next port:
// the two sides start within a relay's round trip of each other, so
// their attempts overlap, and a SYN that the other NAT dropped because
// it came first is followed by one that meets the other's. The
// first connection whose handshake reaches the peer is registered like
// any other, with its link set up on it; its data path crosses the NATs
// the same way (both sides send heartbeats to the other's endpoint at
// once).
//
// Roles: the peer with the smaller name runs the client side of the
// handshake. It alone connects to the other's local addresses too: two
// routers behind one NAT reach each other there with a plain connection
// that the other's listener accepts, as the server. The larger name
// connects only to addresses observed from outside, where its SYN either
// meets the other's or is dropped.
//
// A call unanswered within callTimeout and a punch that connects nowhere
// count as failures: the next call waits callBackoff doubled per failure
// (up to callMaxBackoff, ±25 %), or up to punchedMaxBackoff for a peer
// punched before: its NATs let a punch through, and the path that broke
// (a NAT rebooted, a firewall closed for a while) is taken back soon
// after it is possible again. A punched connection whose data path
// goes silent, or that drops, is closed (reset) and the peer called
// again at once: a NAT that forgot or rebound the mapping is punched
// anew through the relay while the routes go through it. Where a NAT
// maps every destination to a new port (symmetric), nothing meets: the
// attempts stay failures and the peers stay relayed.
const (
	callTimeout    = 3 * time.Second
	callBackoff    = 2 * time.Second
	callMaxBackoff = 5 * time.Minute
	// punchedMaxBackoff bounds the backoff of a peer punched before.
	punchedMaxBackoff = 30 * time.Second
	punchRetry        = 500 * time.Millisecond
	punchTimeout      = 1500 * time.Millisecond
	punchAttempts     = 5
	punchWindow       = punchAttempts*(punchTimeout+punchRetry) + 5*time.Second // and the handshake
	// minPunchGap: a peer's calls start at most one punch a gap.
	minPunchGap = time.Second
	// maxPunching bounds the calls waiting and punches under way at once:
	// peers come from gossip, which is not to make the router a scanner.
	maxPunching = 16
	// Candidates this router sends: at most maxLocalCandidates of its
	// own addresses and the rest (up to maxCandidates) observed ones.
	maxLocalCandidates = 4
	// Punches go from a port picked at random among punchPorts from
	// punchPortBase (and the punchAttempts-1 ports above it).
	punchPortBase = 49152
	punchPorts    = 16384 - punchAttempts
)

// punchPeer is the punching state for one peer. Owned by the actor.
type punchPeer struct {
	calling time.Time // when our unanswered call went out; zero if none
	port    uint16    // the port our call or answer offered to punch from
	// punchedOnce: a punch connected the peer before; plain dials to it
	// are not waited for.
	punchedOnce bool
	callID      uint32
	punching    bool // a punch under way
	started     time.Time
	fails       int
	nextCall    time.Time
	note        string
}

func (p *punchPeer) fail(m *Mesh, why string) {
	p.fails++
	d := time.Duration(float64(p.backoff()) * (0.75 + rand.Float64()/2))
	p.nextCall = m.cfg.Now().Add(d)
	p.note = fmt.Sprintf("punching failed %d times (last: %s)", p.fails, why)
}

// backoff is the wait before the next call after p.fails failures, before
// jitter.
func (p *punchPeer) backoff() time.Duration {
	d := min(callBackoff<<min(p.fails-1, 10), callMaxBackoff)
	if p.punchedOnce {
		d = min(d, punchedMaxBackoff)
	}
	return d
}

// status says what punching to the peer is doing, for status; empty if
// nothing is under way and nothing failed.
func (p *punchPeer) status() string {
	switch {
	case p.punching:
		return "punching now"
	case !p.calling.IsZero():
		return "called the peer to punch, waiting for its answer"
	}
	return p.note
}

func (m *Mesh) punchEnabled() bool {
	return canPunch && !m.cfg.NoPunch && !m.cfg.NoDiscovery
}

// PunchResults are the ways a call or punch ends, as Status.Punches
// counts them: connected (a punch made the connection), overtaken (the
// peer got connected another way meanwhile), failed (a punch connected
// to no candidate), unanswered (a call the peer did not answer in time).
var PunchResults = [...]string{"connected", "overtaken", "failed", "unanswered"}

// punchBusy counts the calls waiting and the punches under way.
func (m *Mesh) punchBusy() int {
	n := 0
	for _, p := range m.punches {
		if p.punching || !p.calling.IsZero() {
			n++
		}
	}
	return n
}

// plainDialing reports whether a plain dial to peer is to be waited
// for: the first dial of a target for it, not failed yet (a peer that
// can be dialled needs no punch; one whose first dial failed, a NAT
// dropping the SYN, is called while the dials go on), or the redial of
// a target that reached it before, until it failed again.
func (m *Mesh) plainDialing(peer frame.PeerName) bool {
	for _, t := range m.targets {
		if t.learnedAs != peer && t.peer != peer || t.state == "failed" || t.state == "backoff" {
			continue
		}
		if t.attempts == 0 || t.peer == peer && t.attempts < unreachableAfter {
			return true
		}
	}
	return false
}

// punchDue calls every live peer that the routes reach through others,
// that has no connection to us and no plain dial under way, and whose
// last call is answered or timed out and whose backoff is over. It
// forgets the state of peers gone from the topology once nothing is
// under way for them and their backoff is over. Runs on the actor.
func (m *Mesh) punchDue() {
	if !m.punchEnabled() || m.applied == nil {
		return
	}
	now := m.cfg.Now()
	known := map[frame.PeerName]bool{}
	busy := m.punchBusy()
	for _, e := range m.topo.Entries() {
		known[e.Name] = true
		p := m.punches[e.Name]
		if p != nil && !p.calling.IsZero() && now.Sub(p.calling) >= callTimeout {
			p.calling = time.Time{}
			busy--
			m.punchResults["unanswered"]++
			p.fail(m, "no answer to the call")
		}
		if e.Name == m.cfg.Self || m.conns[e.Name] != nil {
			continue
		}
		if hop, ok := m.applied.NextHop(e.Name); !ok || hop == e.Name {
			continue
		}
		if _, err := strconv.ParseUint(e.Caps[CapControlPort], 10, 16); err != nil {
			continue
		}
		if (p == nil || !p.punchedOnce) && m.plainDialing(e.Name) {
			continue
		}
		if p == nil {
			p = &punchPeer{}
			m.punches[e.Name] = p
		}
		if p.punching || !p.calling.IsZero() || now.Before(p.nextCall) {
			continue
		}
		if busy >= maxPunching {
			continue
		}
		p.callID, p.port = rand.Uint32(), punchPort()
		r := routed{dst: e.Name, src: m.cfg.Self, ttl: routedTTL, kind: routedCall, id: p.callID, cands: m.candidates(p.port)}
		if m.sendRouted(&r, frame.UnknownPeer) {
			p.calling = now
			busy++
			m.log.Debug("calling peer to punch", "peer", e.Name.String(), "candidates", len(r.cands))
		}
	}
	// A peer gone from the topology keeps its state until its backoff
	// is over, so one that leaves and comes back (a flapping relay) is
	// not called again any sooner than if it had stayed.
	for name, p := range m.punches {
		if !known[name] && !p.punching && p.calling.IsZero() && !now.Before(p.nextCall) {
			delete(m.punches, name)
		}
	}
}

// handleCall answers a call and starts punching, or starts punching on
// the answer to our call. Runs on the actor.
func (m *Mesh) handleCall(r *routed) {
	if !m.punchEnabled() || r.src == m.cfg.Self {
		return
	}
	if _, ok := m.topo.Get(r.src); !ok {
		return
	}
	if c := m.conns[r.src]; c != nil {
		// A punched connection the peer has given up on (it called):
		// ours is as dead, or about to be.
		if !c.viaPunch || c.established {
			return
		}
		m.dropConn(c, "the peer calls to punch again")
	}
	p := m.punches[r.src]
	if p == nil {
		if len(m.punches) >= maxDiscovered {
			return
		}
		p = &punchPeer{}
		m.punches[r.src] = p
	}
	switch r.kind {
	case routedCall:
		if p.calling.IsZero() && !p.punching {
			// Else the port our own call offered, which the peer
			// punches to already or will.
			p.port = punchPort()
		}
		a := routed{dst: r.src, src: m.cfg.Self, ttl: routedTTL, kind: routedAnswer, id: r.id, cands: m.candidates(p.port)}
		if !m.sendRouted(&a, frame.UnknownPeer) {
			return
		}
	case routedAnswer:
		if p.calling.IsZero() || r.id != p.callID {
			return // not an answer to a call of ours
		}
		p.calling = time.Time{}
	}
	now := m.cfg.Now()
	if p.punching || now.Sub(p.started) < minPunchGap || m.punchBusy() >= maxPunching {
		return
	}
	cands := m.peerCandidates(r.cands)
	if len(cands) == 0 {
		p.fail(m, "no candidate endpoint")
		return
	}
	ask := m.cfg.DefaultTransport
	for _, t := range m.targets {
		if t.learnedAs == r.src && t.transport != "" {
			ask = t.transport
		}
	}
	p.punching, p.started = true, now
	m.wg.Add(1)
	go m.punch(r.src, cands, ask, p.port)
}

// punchPort picks the port a punch goes from: a new one for each call,
// so that no NAT on the way holds state from an earlier punch (a
// connection reset a moment ago) for the new one's address pair.
func punchPort() uint16 {
	return uint16(punchPortBase + rand.IntN(punchPorts))
}

// candidates are this router's candidate endpoints, in the listen
// address's family: its own addresses (Config.LocalAddrs, else the
// listen address if it is not a wildcard) with the control port, where
// its listener accepts a plain connection, then the addresses its
// neighbours see its connections come from with port, the one it
// punches from. Runs on the actor.
func (m *Mesh) candidates(port uint16) []candidate {
	var out []candidate
	seen := map[netip.AddrPort]bool{}
	v4 := m.cfg.Listen.Addr().Unmap().Is4()
	add := func(a netip.Addr, local bool) {
		a = a.Unmap()
		ap := netip.AddrPortFrom(a, port)
		if local {
			ap = netip.AddrPortFrom(a, m.cfg.Listen.Port())
		}
		if !usableCandidate(a) || seen[ap] || v4 && !a.Is4() {
			return
		}
		seen[ap] = true
		out = append(out, candidate{addr: ap, local: local})
	}
	for _, a := range m.localAddrs() {
		if len(out) >= maxLocalCandidates {
			break
		}
		add(a, true)
	}
	for _, e := range m.topo.Entries() {
		if m.conns[e.Name] == nil {
			continue
		}
		for _, c := range e.Conns {
			if c.Peer != m.cfg.Self || len(out) >= maxCandidates {
				continue
			}
			if ap, err := netip.ParseAddrPort(c.Addr); err == nil {
				add(ap.Addr(), false)
			}
		}
	}
	return out
}

func (m *Mesh) localAddrs() []netip.Addr {
	if m.cfg.LocalAddrs != nil {
		return m.cfg.LocalAddrs()
	}
	if a := m.cfg.Listen.Addr(); !a.IsUnspecified() {
		return []netip.Addr{a}
	}
	return nil
}

// usableCandidate: not loopback, link-local, multicast or unspecified.
func usableCandidate(a netip.Addr) bool {
	return a.IsValid() && !a.IsLoopback() && !a.IsLinkLocalUnicast() && !a.IsMulticast() && !a.IsUnspecified() && !a.IsInterfaceLocalMulticast()
}

// peerCandidates are where to punch to a peer: the usable candidates it
// sent in our family, none at one of our own addresses.
func (m *Mesh) peerCandidates(sent []candidate) []candidate {
	own := map[netip.Addr]bool{}
	for _, a := range m.localAddrs() {
		own[a.Unmap()] = true
	}
	v4 := m.cfg.Listen.Addr().Unmap().Is4()
	var out []candidate
	seen := map[netip.AddrPort]bool{}
	add := func(c candidate) {
		a := c.addr.Addr().Unmap()
		c.addr = netip.AddrPortFrom(a, c.addr.Port())
		if !usableCandidate(a) || own[a] || seen[c.addr] || v4 && !a.Is4() {
			return
		}
		seen[c.addr] = true
		out = append(out, c)
	}
	for _, c := range sent {
		add(c)
	}
	return out
}

// punch connects from port to the peer's candidates (the larger name:
// only to those observed from outside) and runs the handshake in the
// role the names give on the first connection that comes up; as the
// client it asks for transport ask, as a dialer does.
func (m *Mesh) punch(peer frame.PeerName, cands []candidate, ask string, port uint16) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(m.ctx, punchWindow)
	defer cancel()
	dialCtx, stopDials := context.WithCancel(ctx)
	defer stopDials()
	client := m.cfg.Self < peer
	type conn struct {
		nc net.Conn
		c  candidate
	}
	conns := make(chan conn, len(cands))
	var (
		dials   sync.WaitGroup
		mu      sync.Mutex
		lastErr error = errors.New("no candidate to connect to")
	)
	for _, c := range cands {
		if c.local && !client {
			continue
		}
		dials.Add(1)
		go func() {
			defer dials.Done()
			// Attempt k starts k slots after the punch did, from
			// port+k to the candidate's port+k (a local candidate's
			// listener stays at its port): the peer's attempt k starts
			// within a relay's round trip of ours, and goes between
			// the same ports the other way. A fresh pair of ports per
			// attempt meets no state that an earlier attempt left in
			// the NATs or in our stack (a socket that saw the other's
			// SYN and could not answer). The sockets of one attempt
			// share its port (SO_REUSEPORT) and are reset when given
			// up (SO_LINGER 0).
			start := time.Now()
			for k := range punchAttempts {
				if wait := time.Until(start.Add(time.Duration(k) * (punchTimeout + punchRetry))); wait > 0 {
					select {
					case <-time.After(wait):
					case <-dialCtx.Done():
						return
					}
				}
				local := netip.AddrPortFrom(m.cfg.Listen.Addr(), port+uint16(k))
				remote := c.addr
				if !c.local {
					remote = netip.AddrPortFrom(remote.Addr(), remote.Port()+uint16(k))
				}
				d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(local), Timeout: punchTimeout, Control: punchSocket,
					KeepAliveConfig: controlKeepAlive}
				nc, err := d.DialContext(dialCtx, "tcp", remote.String())
				if err == nil {
					conns <- conn{nc, c}
					return
				}
				mu.Lock()
				lastErr = err
				mu.Unlock()
			}
		}()
	}
	go func() {
		dials.Wait()
		close(conns)
	}()
	var (
		hc   *handshake.Conn
		used candidate
	)
	for got := range conns {
		if hc != nil {
			abortOnClose(got.nc)
			got.nc.Close()
			continue
		}
		var err error
		var h *handshake.Conn
		if client {
			h, err = handshake.Client(ctx, got.nc, m.handshakeConfig(ask))
		} else {
			h, err = handshake.Server(ctx, got.nc, m.handshakeConfig(""))
		}
		if err == nil && h.Remote().Name != peer {
			h.Close()
			err = fmt.Errorf("%s reached %s, not %s", got.c.addr, h.Remote().Name, peer)
		}
		if err != nil {
			abortOnClose(got.nc)
			got.nc.Close()
			mu.Lock()
			lastErr = err
			mu.Unlock()
			continue
		}
		hc, used = h, got.c
		stopDials()
	}
	mu.Lock()
	err := lastErr
	mu.Unlock()
	if hc != nil {
		err = nil
	}
	if !m.post(func() { m.punched(peer, client, hc, used, err) }) && hc != nil {
		hc.Close()
	}
}

// punched records the outcome of a punch. Runs on the actor.
func (m *Mesh) punched(peer frame.PeerName, client bool, hc *handshake.Conn, used candidate, err error) {
	p := m.punches[peer]
	if p != nil {
		p.punching = false
	}
	if m.conns[peer] != nil {
		// Connected meanwhile (the other side's connection was accepted
		// here, or a plain dial got through): nothing more to punch.
		if hc != nil {
			hc.Close()
		}
		if p != nil {
			p.fails, p.note = 0, ""
		}
		m.punchResults["overtaken"]++
		return
	}
	if err != nil {
		if p != nil {
			p.fail(m, err.Error())
		}
		m.punchResults["failed"]++
		m.log.Debug("punching failed", "peer", peer.String(), "err", err)
		return
	}
	m.adoptPunched(hc, client, used)
}

// adoptPunched registers a connection a punch made to candidate used
// (client: ours is the handshake's client side). Runs on the actor.
func (m *Mesh) adoptPunched(hc *handshake.Conn, client bool, used candidate) {
	peer := hc.Remote().Name
	if m.conns[peer] != nil {
		hc.Close() // connected meanwhile
		m.punchResults["overtaken"]++
		return
	}
	how := "punched a connection through NAT"
	if used.local {
		how = "connected to a local address the peer sent"
	}
	m.punchLog.Log(slog.LevelInfo, how, "peer", peer.String(), "addr", used.addr.String())
	abortOnClose(hc.NetConn())
	m.punchResults["connected"]++
	m.register(hc, client, "")
	if c := m.conns[peer]; c != nil && c.hc == hc {
		c.viaPunch = true
		c.punched = !used.local
		if p := m.punches[peer]; p != nil {
			p.fails, p.note, p.punchedOnce = 0, "", true
		}
		m.publishStatus()
	}
}

// punchedLost: a connection made by punching dropped; the peer is called
// again at once. Runs on the actor.
func (m *Mesh) punchedLost(peer frame.PeerName, wasUp bool) {
	p := m.punches[peer]
	if p == nil {
		return
	}
	if wasUp {
		p.fails, p.note, p.nextCall = 0, "", time.Time{}
	} else {
		p.fail(m, "its data path never answered")
	}
}

// abortOnClose makes closing nc reset the connection (SO_LINGER 0).
func abortOnClose(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}
