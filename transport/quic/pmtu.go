package quictransport

import (
	"fmt"
	"net"
	"time"

	quic "github.com/quic-go/quic-go"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
)

// Path MTU. quic-go discovers the path MTU upwards (DPLPMTUD, from
// InitialPacketSize to 1452 bytes) but never notices a path that narrows:
// once the kernel refuses or the path drops its full-size packets, every
// DATAGRAM of the old maximum is lost for good. So the Transport watches
// the kernel's path MTU to each peer (IP_MTU of a connected UDP socket,
// which drops when the route's interface MTU does or an ICMP
// "fragmentation needed"/"packet too big" arrives) every PMTUInterval, and
// when it fell below what the link's connection was set up with, it
// closes that connection (Stats.PMTUResets); the dialing side reconnects
// at once with InitialPacketSize fitted to the new path, and the
// accepting side sizes accepted connections the same way
// (GetConfigForClient). Frames bigger than the new maximum DATAGRAM go in
// pieces, so the overlay MTU stays as it was.

const (
	ipv4UDPHeaders = 20 + 8
	ipv6UDPHeaders = 40 + 8
	// maxPacketSize is the largest UDP payload quic-go sends.
	maxPacketSize = 1452
	// minPacketSize is QUIC's minimum (RFC 9000, 14): a path below it
	// cannot carry QUIC at all.
	minPacketSize = 1200
)

// packetSizeFor returns the UDP payload size that fits a path of MTU mtu.
func packetSizeFor(mtu int, v6 bool) int {
	if v6 {
		return mtu - ipv6UDPHeaders
	}
	return mtu - ipv4UDPHeaders
}

// initialPacketSize is the InitialPacketSize for a path of MTU mtu.
func initialPacketSize(mtu int, v6 bool) uint16 {
	return uint16(min(max(packetSizeFor(mtu, v6), minPacketSize), maxPacketSize))
}

// openProbe makes p's path MTU socket (sends nothing) and reads the path
// MTU once. Called with t.mu held, from Open and from AddPeer after Open.
func (t *Transport) openProbe(p *peer) {
	p.probe, _ = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.addr))
	p.mtu.Store(int32(t.queryPathMTU(p)))
}

// queryPathMTU returns the kernel's path MTU to p, at most UnderlayMTU
// (UnderlayMTU if the kernel cannot say).
func (t *Transport) queryPathMTU(p *peer) int {
	mtu := t.cfg.UnderlayMTU
	if p.probe != nil {
		if m, err := udpbatch.SocketMTU(p.probe, !p.addr.Addr().Is4()); err == nil && m > 0 {
			mtu = min(mtu, m)
		}
	}
	return mtu
}

// routinePathMTU checks every peer's path MTU every PMTUInterval.
func (t *Transport) routinePathMTU() {
	defer t.wg.Done()
	tk := time.NewTicker(t.cfg.PMTUInterval)
	defer tk.Stop()
	for {
		select {
		case <-t.ctx.Done():
			return
		case <-tk.C:
		}
		t.mu.Lock()
		peers := make([]*peer, 0, len(t.mu.byName))
		for _, p := range t.mu.byName {
			peers = append(peers, p)
		}
		t.mu.Unlock()
		for _, p := range peers {
			t.checkPathMTU(p)
			t.openNAT(p)
		}
	}
}

// natOpener is the one byte openNAT sends: no QUIC packet, so the peer
// drops it.
var natOpener = []byte{0}

// openNAT sends one byte from the transport's socket to p's endpoint
// while p, which dials this side, has no connection: a NAT in front of
// this router then lets p's dial in as an answer (both sides behind NAT,
// their control connection punched), if it keeps the socket's port. Runs
// on the path MTU routine's tick.
func (t *Transport) openNAT(p *peer) {
	if p.dials || p.link.Load() != nil {
		return
	}
	t.mu.Lock()
	qt := t.mu.qt
	t.mu.Unlock()
	if qt != nil {
		_, _ = qt.WriteTo(natOpener, net.UDPAddrFromAddrPort(p.addr))
	}
}

// checkPathMTU reads p's path MTU and resets its connection if the path
// narrowed below what the connection may send.
func (t *Transport) checkPathMTU(p *peer) {
	mtu := t.queryPathMTU(p)
	p.mtu.Store(int32(mtu))
	l := p.link.Load()
	if l == nil || mtu >= l.mtu {
		return
	}
	v6 := !p.addr.Addr().Is4()
	if packetSizeFor(mtu, v6) >= maxPacketSize {
		l.mtu = mtu // still room for quic-go's largest packet
		return
	}
	t.stats.pmtuResets.Add(1)
	why := fmt.Sprintf("path MTU to %v shrank from %d to %d", p.addr, l.mtu, mtu)
	if packetSizeFor(mtu, v6) < minPacketSize {
		why += ": below QUIC's minimum, the link cannot work"
	}
	t.log.Slog().Warn("path MTU shrank: reconnecting", "peer", p.name, "why", why)
	l.conn.CloseWithError(quic.ApplicationErrorCode(2), why)
}

// PathMTU returns the path MTU to peer name as last read from the kernel,
// or 0 for an unknown peer.
func (t *Transport) PathMTU(name frame.PeerName) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.mu.byName[name]; p != nil {
		return int(p.mtu.Load())
	}
	return 0
}
