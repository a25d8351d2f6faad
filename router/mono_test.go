package router

import (
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/clock"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// A step of the wall clock neither ages a neighbour's last answer nor
// makes it fresh: a consumer reading the same clock sees the time that
// really passed since the answer, before and after a step either way.
func TestHealthAcrossClockSteps(t *testing.T) {
	var clk clock.Stepped
	net := memory.NewNetwork()
	nameA, nameB := frame.PeerName(0x020000000001), frame.PeerName(0x020000000002)
	a, err := New(Config{Self: nameA, Device: newFakeDevice(), Now: clk.Now,
		Transport: net.NewTransport(nameA, netip.MustParseAddrPort("192.0.2.1:6783"))})
	if err != nil {
		t.Fatal(err)
	}
	a.EnableFastHeartbeats(frame.MAC{0x02, 0xfa, 0, 0, 0, 1}, 1400)
	a.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(netip.MustParseAddrPort("192.0.2.2:6783"))}})
	p := a.peers.table.Load().list[0]
	p.lastPong.Store(a.mono())
	a.recordFastPong(p, int64(uint64(a.mono())^a.fast.secret))
	p.lastSeen.Store(a.mono())
	if p.fastAck.Load() == 0 {
		t.Fatal("the fast pong was refused")
	}
	for _, step := range []time.Duration{0, time.Hour, -70 * time.Minute, 24 * time.Hour} {
		clk.Step(step)
		pong := a.LinkHealth()[nameB].LastPong
		ack := a.FastLinks()[0].LastAck
		seen := a.Peers()[0].LastSeen
		now := clk.Now()
		for what, at := range map[string]time.Time{"heartbeat answer": pong, "fast-path answer": ack, "last frame": seen} {
			// The stamps were taken just above: their age is the
			// test's own run time, far below a minute unless the step
			// leaked into it.
			if age := now.Sub(at); age < 0 || age > time.Minute {
				t.Errorf("after a step of %v (offset %v) the %s is %v old", step, clk.Offset(), what, age)
			}
		}
	}
}
