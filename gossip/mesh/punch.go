package mesh

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
)

// Hole punching. Two routers behind NAT cannot dial each other: each NAT
// drops the other's SYN as new inbound traffic. But if both send a SYN to
// the other at about the same time, each from its control port, a NAT
// that keeps the source port of a new mapping while it is free (Linux's
// masquerade does) and lets in what answers an outbound connection lets
// the other's SYN in as the answer to its own: the two SYNs cross and
// make one TCP connection (a simultaneous open). Each router knows the
// other's NAT address from gossip (the address a common neighbour sees
// it at) and its control port from its caps.
//
// A router punches to a discovered target once it is in backoff (its
// dials failed while its peer is alive: target.fail), so both sides of
// a pair that cannot reach each other get there independently. Both
// must try at the same moment with no message between them: attempts
// start on wall-clock multiples of punchSlot (hosts keep time with NTP,
// well within the seconds a SYN's retransmissions cover), or of
// punchSlowSlot once a target has failed punchSlowAfter times, a
// multiple of punchSlot, so that two sides at different stages still
// meet. The peer with the smaller name runs the client side of the
// control handshake. The connection is registered like any other and
// its link set up on it; its data path crosses the NATs the same way
// (both sides send heartbeats to the other's endpoint at once). Where a
// NAT maps every destination to a new port (symmetric), nothing meets:
// the attempts stay failures and the peers stay relayed.
const (
	punchSlot      = 10 * time.Second
	punchSlowSlot  = 5 * time.Minute
	punchSlowAfter = 6
	punchTimeout   = 5 * time.Second
	// maxPunching bounds the attempts under way at once: targets come
	// from gossip, which is not to make the router a scanner.
	maxPunching = 16
)

// punchDue starts a punching attempt for every target in backoff that has
// none under way. Runs on the actor.
func (m *Mesh) punchDue() {
	if !canPunch || m.cfg.NoPunch {
		return
	}
	now := m.cfg.Now()
	busy := 0
	for _, t := range m.targets {
		if t.punching {
			busy++
		}
	}
	for addr, t := range m.targets {
		if busy >= maxPunching {
			return
		}
		if t.state != "backoff" || t.punching || t.learnedAs == frame.UnknownPeer || m.conns[t.learnedAs] != nil {
			continue
		}
		slot := punchSlot
		if t.punchFails >= punchSlowAfter {
			slot = punchSlowSlot
		}
		at := now.Truncate(slot).Add(slot)
		ask := t.transport
		if ask == "" {
			ask = m.cfg.DefaultTransport
		}
		t.punching = true
		busy++
		m.wg.Add(1)
		go m.punch(addr, t.learnedAs, ask, at)
	}
}

// punch waits until at, then dials addr (peer's NAT address) from the
// control port and, if the SYNs met, runs the handshake in the role the
// names give; as the client it asks for transport ask, as a dialer does.
func (m *Mesh) punch(addr string, peer frame.PeerName, ask string, at time.Time) {
	defer m.wg.Done()
	timer := time.NewTimer(time.Until(at))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-m.closing:
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, 15*time.Second)
	defer cancel()
	d := net.Dialer{
		LocalAddr: net.TCPAddrFromAddrPort(m.cfg.Listen),
		Timeout:   punchTimeout,
		Control:   reusePort,
	}
	client := m.cfg.Self < peer
	nc, err := d.DialContext(ctx, "tcp", addr)
	var hc *handshake.Conn
	if err == nil {
		if client {
			hc, err = handshake.Client(ctx, nc, m.handshakeConfig(ask))
		} else {
			hc, err = handshake.Server(ctx, nc, m.handshakeConfig(""))
		}
		if err == nil && hc.Remote().Name != peer {
			hc.Close()
			err = fmt.Errorf("reached %s, not %s", hc.Remote().Name, peer)
		}
	}
	if !m.post(func() { m.punched(addr, client, hc, err) }) && hc != nil {
		hc.Close()
	}
}

// punched records the outcome of a punching attempt. Runs on the actor.
func (m *Mesh) punched(addr string, client bool, hc *handshake.Conn, err error) {
	t := m.targets[addr]
	if t != nil {
		t.punching = false
	}
	if err != nil {
		if t != nil {
			t.punchFails++
			t.punchNote = fmt.Sprintf("punching failed %d times (last: %v)", t.punchFails, err)
		}
		m.log.Debug("punching failed", "addr", addr, "err", err)
		return
	}
	if t == nil || m.conns[hc.Remote().Name] != nil {
		hc.Close() // forgotten, or connected meanwhile
		return
	}
	t.punchFails, t.punchNote = 0, ""
	m.punchLog.Log(slog.LevelInfo, "punched a connection through NAT", "peer", hc.Remote().Name.String(), "addr", addr)
	m.registerPunched(hc, client, addr)
}
