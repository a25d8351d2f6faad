package router

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
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

// closeCounter is a Transport that counts its Close calls; its Open fails
// if fail is set.
type closeCounter struct {
	transport.Transport
	fail   bool
	opened bool
	closes int
}

func (c *closeCounter) Open() ([]transport.ReceiveFunc, netip.AddrPort, error) {
	if c.fail {
		return nil, netip.AddrPort{}, errors.New("injected Open failure")
	}
	c.opened = true
	return c.Transport.Open()
}

func (c *closeCounter) Close() error {
	c.closes++
	return c.Transport.Close()
}

// TestStartFailureClosesEveryTransport: when the second extra transport
// fails to Open, Start closes the default transport, both extras and the
// one after them it never reached, and leaves no goroutine.
func TestStartFailureClosesEveryTransport(t *testing.T) {
	leakcheck.Check(t)
	n := memory.NewNetwork()
	name := frame.PeerName(0x020000000001)
	var trs []*closeCounter
	for i := range 4 {
		trs = append(trs, &closeCounter{Transport: n.NewTransport(name, netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), uint16(6783+i))), fail: i == 2})
	}
	r, err := New(Config{Self: name, Device: newFakeDevice(), Transport: trs[0],
		Extra: []transport.Transport{trs[1], trs[2], trs[3]}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(); err == nil {
		t.Fatal("Start succeeded with a failing transport")
	}
	for i, tr := range trs {
		if tr.closes == 0 {
			t.Errorf("transport %d (opened %v) not closed", i, tr.opened)
		}
		if _, _, err := tr.Transport.Open(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("transport %d: Open after the failed Start: %v, want closed", i, err)
		}
	}
	if trs[3].opened {
		t.Error("Start opened a transport after the failing one")
	}
	// The constructor closes its transports too: harmless.
	for _, tr := range trs {
		tr.Close()
	}
}
