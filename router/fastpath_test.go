package router

import (
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// TestFastHeartbeats plays the kernel between two routers: A's fast ping
// comes out of A's bridge port at full MTU, is put into B's bridge port,
// and B answers over the transport, which A records. A truncated ping is
// not answered, and other frames still reach the switch.
func TestFastHeartbeats(t *testing.T) {
	net := memory.NewNetwork()
	nameA, nameB := frame.PeerName(0x020000000001), frame.PeerName(0x020000000002)
	hbA, hbB := frame.MAC{0x02, 0xfa, 0, 0, 0, 1}, frame.MAC{0x02, 0xfa, 0, 0, 0, 2}
	devA, devB := newFakeDevice(), newFakeDevice()
	start := func(name frame.PeerName, addr string, dev *fakeDevice) *Router {
		r, err := New(Config{Self: name, Device: dev, Transport: net.NewTransport(name, netip.MustParseAddrPort(addr))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a := start(nameA, "192.0.2.1:6783", devA)
	b := start(nameB, "192.0.2.2:6783", devB)
	ep := func(s string) transport.Endpoint { return transport.AddrPortEndpoint(netip.MustParseAddrPort(s)) }
	a.SetPeers([]link.Peer{{Name: nameB, Endpoint: ep("192.0.2.2:6783")}})
	b.SetPeers([]link.Peer{{Name: nameA, Endpoint: ep("192.0.2.1:6783")}})

	if n := a.SendFastHeartbeats([]link.FastTarget{{Peer: nameB, MAC: hbB}}); n != 0 {
		t.Fatalf("sent %d fast pings before EnableFastHeartbeats", n)
	}
	const mtu = 1400
	a.EnableFastHeartbeats(hbA, mtu)
	b.EnableFastHeartbeats(hbB, mtu)
	if n := a.SendFastHeartbeats([]link.FastTarget{{Peer: nameB, MAC: hbB}}); n != 1 {
		t.Fatalf("sent %d fast pings, want 1", n)
	}
	ping := <-devA.out
	if len(ping) != frame.EthernetHeaderSize+mtu || frame.MAC(ping[0:6]) != hbB || frame.MAC(ping[6:12]) != hbA {
		t.Fatalf("fast ping: %d bytes to %x from %x", len(ping), ping[0:6], ping[6:12])
	}

	// Truncated on the way (an MTU problem): not answered.
	devB.in <- ping[:1000]
	// An ordinary unicast from B's container to an unknown MAC is flooded.
	other := ethFrame(frame.MAC{0x0a, 0, 0, 0, 0, 9}, frame.MAC{0x0a, 0, 0, 0, 0, 2}, "data")
	devB.in <- other
	expectFrame(t, devA, other)
	if _, _, bad := b.FastCounters(); bad != 1 {
		t.Errorf("B counted %d bad fast pings, want 1", bad)
	}
	for _, h := range a.FastLinks() {
		if !h.LastAck.IsZero() {
			t.Fatalf("A recorded an answer to a truncated ping: %+v", h)
		}
	}

	devB.in <- ping
	waitUntil(t, "A records B's answer", func() bool {
		h := a.FastLinks()
		return len(h) == 1 && h[0].Peer == nameB && !h[0].LastAck.IsZero()
	})
	if pings, _, _ := b.FastCounters(); pings != 1 {
		t.Errorf("B answered %d fast pings, want 1", pings)
	}
	if _, pongs, _ := a.FastCounters(); pongs != 1 {
		t.Errorf("A recorded %d answers, want 1", pongs)
	}
	if s := b.SwitchStats(); s.Flooded != 1 {
		t.Errorf("B's switch flooded %d frames, want 1 (the heartbeats must not reach it)", s.Flooded)
	}
}

// TestFastPongForged: a pong whose stamp is not one of ours (a forged
// fast ping answered by the peer) is not taken as proof of a fast path.
func TestFastPongForged(t *testing.T) {
	net := memory.NewNetwork()
	nameA, nameB := frame.PeerName(0x020000000001), frame.PeerName(0x020000000002)
	devA := newFakeDevice()
	a, err := New(Config{Self: nameA, Device: devA, Transport: net.NewTransport(nameA, netip.MustParseAddrPort("192.0.2.1:6783"))})
	if err != nil {
		t.Fatal(err)
	}
	a.EnableFastHeartbeats(frame.MAC{0x02, 0xfa, 0, 0, 0, 1}, 1400)
	a.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(netip.MustParseAddrPort("192.0.2.2:6783"))}})
	p := a.peers.table.Load().list[0]
	a.recordFastPong(p, a.mono()) // a plain clock, as a forger would send
	if p.fastAck.Load() != 0 {
		t.Fatal("a forged stamp was accepted")
	}
	a.recordFastPong(p, int64(uint64(a.mono())^a.fast.secret))
	if p.fastAck.Load() == 0 {
		t.Fatal("a genuine stamp was refused")
	}
}

func FuzzParseFastPing(f *testing.F) {
	ping := make([]byte, 100)
	copy(ping[0:6], []byte{2, 0xfa, 0, 0, 0, 2})
	ping[12], ping[13], ping[14] = 0x88, 0xb5, hbFastPing
	ping[fastLenOff], ping[fastLenOff+1] = 0, 100
	f.Add(ping)
	f.Add(ping[:36])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		from, _, ok := parseFastPing(b)
		if !ok {
			if from != frame.UnknownPeer {
				t.Fatal("a refused ping has a sender")
			}
			return
		}
		if len(b) < fastPingMin || int(b[fastLenOff])<<8|int(b[fastLenOff+1]) != len(b) {
			t.Fatalf("accepted a %d-byte ping declaring another length", len(b))
		}
	})
}
