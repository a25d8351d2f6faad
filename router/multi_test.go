package router

import (
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// TestLinksOnDifferentTransports gives router A two transports: its link to
// B runs on one network, its link to C on another. Frames flow on both, and
// heartbeats are answered on the link's own transport.
func TestLinksOnDifferentTransports(t *testing.T) {
	netX, netY := memory.NewNetwork(), memory.NewNetwork()
	nameA, nameB, nameC := frame.PeerName(0x020000000001), frame.PeerName(0x020000000002), frame.PeerName(0x020000000003)
	ax := netX.NewTransport(nameA, netip.MustParseAddrPort("192.0.2.1:6783"))
	ay := netY.NewTransport(nameA, netip.MustParseAddrPort("198.51.100.1:6784"))
	devA, devB, devC := newFakeDevice(), newFakeDevice(), newFakeDevice()
	a, err := New(Config{Self: nameA, Device: devA, Transport: ax, Extra: []transport.Transport{ay}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	start := func(name frame.PeerName, tr transport.Transport, dev *fakeDevice) *Router {
		r, err := New(Config{Self: name, Device: dev, Transport: tr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	b := start(nameB, netX.NewTransport(nameB, netip.MustParseAddrPort("192.0.2.2:6783")), devB)
	c := start(nameC, netY.NewTransport(nameC, netip.MustParseAddrPort("198.51.100.3:6784")), devC)
	ep := func(s string) transport.Endpoint { return transport.AddrPortEndpoint(netip.MustParseAddrPort(s)) }
	a.SetPeers([]link.Peer{
		{Name: nameB, Endpoint: ep("192.0.2.2:6783")},                   // default transport
		{Name: nameC, Endpoint: ep("198.51.100.3:6784"), Transport: ay}, // the other one
	})
	b.SetPeers([]link.Peer{{Name: nameA, Endpoint: ep("192.0.2.1:6783")}})
	c.SetPeers([]link.Peer{{Name: nameA, Endpoint: ep("198.51.100.1:6784")}})

	bc := ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 1}, "to both")
	devA.in <- bc
	expectFrame(t, devB, bc)
	expectFrame(t, devC, bc)
	reply := ethFrame(frame.MAC{0x0a, 0, 0, 0, 0, 1}, frame.MAC{0x0a, 0, 0, 0, 0, 3}, "from c")
	devC.in <- reply
	expectFrame(t, devA, reply)

	a.SendHeartbeats()
	waitUntil(t, "both links answer heartbeats", func() bool {
		h := a.LinkHealth()
		return !h[nameB].LastPong.IsZero() && !h[nameC].LastPong.IsZero()
	})
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
