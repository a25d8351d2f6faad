package sleeve

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/internal/udpbatch"
)

// Path MTU per destination. The sleeve builds datagrams no bigger than
// UnderlayMTU minus the IP and UDP headers. When the path to a peer turns
// out narrower (a UDP GSO send fails with EMSGSIZE because a segment
// exceeds the route's MTU), the sleeve asks the kernel for that
// destination's path MTU (IP_MTU on a connected probe socket) and builds
// smaller datagrams for it from then on; frames that no longer fit one
// datagram go as the sleeve's own fragments. A learned value expires
// after pmtuTTL, so the sleeve returns to the configured size when the path
// widens again (the kernel's own PMTU cache also expires after 10 minutes).
const pmtuTTL = 10 * time.Minute

type pmtuEntry struct {
	mtu     int
	expires time.Time
}

// pmtuTable is read on every Send (an atomic snapshot, no lock) and
// written rarely (copy on write, under mu).
type pmtuTable struct {
	mu   sync.Mutex
	snap atomic.Pointer[map[netip.Addr]pmtuEntry]
}

// lookup returns the learned path MTU to dst, or 0.
func (t *pmtuTable) lookup(dst netip.Addr, now time.Time) int {
	m := t.snap.Load()
	if m == nil {
		return 0
	}
	e, ok := (*m)[dst]
	if !ok || now.After(e.expires) {
		return 0
	}
	return e.mtu
}

func (t *pmtuTable) store(dst netip.Addr, mtu int, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.snap.Load()
	next := make(map[netip.Addr]pmtuEntry, 1)
	if old != nil {
		for k, v := range *old {
			if now.Before(v.expires) {
				next[k] = v
			}
		}
	}
	next[dst] = pmtuEntry{mtu: mtu, expires: now.Add(pmtuTTL)}
	t.snap.Store(&next)
}

// snapshot returns the live entries (for Stats).
func (t *pmtuTable) snapshot(now time.Time) map[string]int {
	m := t.snap.Load()
	if m == nil {
		return nil
	}
	out := map[string]int{}
	for k, v := range *m {
		if now.Before(v.expires) {
			out[k.String()] = v.mtu
		}
	}
	return out
}

// learnPMTU asks the kernel for the path MTU to dst and, if it is below
// what the sleeve assumed, remembers it. It runs only after an EMSGSIZE,
// never per frame.
func (s *Sleeve) learnPMTU(dst netip.AddrPort) {
	mtu, err := kernelPMTU(dst)
	if err != nil || mtu < MinUnderlayMTU {
		return
	}
	now := s.now()
	if cur := s.pmtu.lookup(dst.Addr(), now); (cur == 0 && mtu < s.cfg.UnderlayMTU) || (cur != 0 && mtu < cur) {
		s.pmtu.store(dst.Addr(), mtu, now)
		s.stats.pmtuUpdates.Add(1)
		s.log.Log(slog.LevelWarn, "path MTU below UnderlayMTU: smaller datagrams from now on",
			"dst", dst.Addr(), "pmtu", mtu, "underlay_mtu", s.cfg.UnderlayMTU)
	}
}

// kernelPMTU returns the kernel's path MTU to dst: the route's MTU, or a
// smaller value learned from ICMP.
func kernelPMTU(dst netip.AddrPort) (int, error) {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return udpbatch.SocketMTU(c, dst.Addr().Is6() && !dst.Addr().Is4In6())
}

// PathMTU returns the path MTU to dst in use: the one learned after an
// EMSGSIZE, or UnderlayMTU.
func (s *Sleeve) PathMTU(dst netip.Addr) int {
	if m := s.pmtu.lookup(dst.Unmap(), s.now()); m > 0 {
		return m
	}
	return s.cfg.UnderlayMTU
}
