package mesh

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestControlKeepAlive: both ends of a control connection, the dialled and
// the accepted, have the kernel's keepalives on with controlKeepAlive's
// timing, and the silence each allows and the gossip it expects follow
// the other's CapQuiet.
func TestControlKeepAlive(t *testing.T) {
	a := startNode(t, 1, "", true)
	defer a.m.Close()
	b := startNode(t, 2, "", true, a.addr())
	defer b.m.Close()
	waitFor(t, "a connection each way", func() bool { return len(a.status().Connections) == 1 && len(b.status().Connections) == 1 })
	for _, n := range []*node{a, b} {
		var conns []*connection
		if err := n.m.call(context.Background(), func() {
			for _, c := range n.m.conns {
				conns = append(conns, c)
			}
		}); err != nil {
			t.Fatal(err)
		}
		c := conns[0]
		if every := n.status().GossipEvery; every != time.Duration(longPace.summary)*GossipInterval {
			t.Errorf("%s: status says a peer gossips every %v, want %v", n.m.cfg.Self, every, time.Duration(longPace.summary)*GossipInterval)
		}
		if c.silence != quietTimeout || c.pace != longPace {
			t.Errorf("%s: silence %v and pace %+v, want %v and %+v", n.m.cfg.Self, c.silence, c.pace, quietTimeout, longPace)
		}
		raw, err := c.hc.NetConn().(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		var serr error
		if err := raw.Control(func(fd uintptr) {
			for name, opt := range map[string][2]int{
				"SO_KEEPALIVE":  {syscall.SOL_SOCKET, syscall.SO_KEEPALIVE},
				"TCP_KEEPIDLE":  {syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE},
				"TCP_KEEPINTVL": {syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL},
				"TCP_KEEPCNT":   {syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT},
			} {
				v, err := syscall.GetsockoptInt(int(fd), opt[0], opt[1])
				if err != nil {
					serr = err
				}
				got[name] = v
			}
		}); err != nil || serr != nil {
			t.Fatal(err, serr)
		}
		want := map[string]int{"SO_KEEPALIVE": 1, "TCP_KEEPIDLE": int(controlKeepAlive.Idle / time.Second),
			"TCP_KEEPINTVL": int(controlKeepAlive.Interval / time.Second), "TCP_KEEPCNT": controlKeepAlive.Count}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s (outbound %v): %s = %d, want %d", n.m.cfg.Self, c.outbound, k, got[k], v)
			}
		}
	}
}
