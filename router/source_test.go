package router

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// rawPeer is a bare memory transport that sends hand-made frames as name
// from addr: a real peer without a router, or a forger that claims a
// neighbour's name from an address of its own.
type rawPeer struct {
	tr   *memory.Transport
	recv transport.ReceiveFunc
}

func openRaw(t *testing.T, n *memory.Network, name frame.PeerName, addr string) *rawPeer {
	t.Helper()
	tr := n.NewTransport(name, netip.MustParseAddrPort(addr))
	fns, _, err := tr.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return &rawPeer{tr: tr, recv: fns[0]}
}

// send sends f with meta (Via is set by the transport) to addr.
func (p *rawPeer) send(t *testing.T, to netip.AddrPort, meta frame.Meta, f []byte) {
	t.Helper()
	b := frame.NewBatchSize(1, transport.MaxOverhead, len(f))
	b.Sizes[0] = copy(b.Room(0), f)
	b.Meta[0] = meta
	b.N = 1
	if err := p.tr.Send(b, transport.AddrPortEndpoint(to)); err != nil {
		t.Fatal(err)
	}
}

// heartbeat returns a heartbeat frame of kind with clock.
func heartbeat(kind byte, clock int64) []byte {
	f := make([]byte, heartbeatLen)
	putHeartbeat(f, kind, clock)
	return f
}

// startRouter starts a router for name on tr with neighbours links.
func startRouter(t *testing.T, name frame.PeerName, tr transport.Transport, extra []transport.Transport, links []link.Peer) (*Router, *fakeDevice) {
	t.Helper()
	dev := newFakeDevice()
	r, err := New(Config{Self: name, Device: dev, Transport: tr, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	r.SetPeers(links)
	return r, dev
}

func apEP(s string) transport.Endpoint {
	return transport.AddrPortEndpoint(netip.MustParseAddrPort(s))
}

var (
	nameA = frame.PeerName(0x020000000001)
	nameB = frame.PeerName(0x020000000002)
	nameC = frame.PeerName(0x020000000003)
	addrA = netip.MustParseAddrPort("192.0.2.1:6783")
)

// TestForgedSourceIsDropped: a frame that names a neighbour (B) but comes
// from another underlay address is dropped and counted; B's own frames
// still pass.
func TestForgedSourceIsDropped(t *testing.T) {
	leakcheck.Check(t)
	n := memory.NewNetwork()
	a, devA := startRouter(t, nameA, n.NewTransport(nameA, addrA), nil,
		[]link.Peer{{Name: nameB, Endpoint: apEP("192.0.2.2:6783")}})
	b := openRaw(t, n, nameB, "192.0.2.2:6783")
	forger := openRaw(t, n, nameB, "192.0.2.66:6783")

	forged := ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 0x66}, "forged")
	forger.send(t, addrA, frame.Meta{Src: nameB}, forged)
	forger.send(t, addrA, frame.Meta{Src: nameC}, forged) // as if relayed by B
	waitUntil(t, "the forged frames counted", func() bool { return a.Counters().WrongSource == 2 })
	expectNothing(t, devA)

	real := ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 2}, "from b")
	b.send(t, addrA, frame.Meta{Src: nameB}, real)
	expectFrame(t, devA, real)
	c := a.Counters()
	if c.WrongSource != 2 || c.UnknownSender != 0 {
		t.Errorf("counters %+v, want 2 wrong source and no unknown sender", c)
	}
	if p := a.Peers()[0]; p.RxFrames != 1 {
		t.Errorf("B's link counted %d received frames, want 1 (its own)", p.RxFrames)
	}
	if d := a.Drops(); d["wrong_source"] != 2 {
		t.Errorf("Drops()[wrong_source] = %d, want 2", d["wrong_source"])
	}
}

// TestForgedHeartbeatsDoNotRefreshTheLink: a pong from a forged source
// does not mark the link as answered, and a ping from one is not
// answered; the neighbour's own pong and ping are.
func TestForgedHeartbeatsDoNotRefreshTheLink(t *testing.T) {
	leakcheck.Check(t)
	n := memory.NewNetwork()
	trA := n.NewTransport(nameA, addrA)
	a, _ := startRouter(t, nameA, trA, nil, []link.Peer{{Name: nameB, Endpoint: apEP("192.0.2.2:6783")}})
	forger := openRaw(t, n, nameB, "192.0.2.66:6783")

	forger.send(t, addrA, frame.Meta{Src: nameB, Dst: nameA}, heartbeat(hbPong, time.Now().UnixNano()))
	forger.send(t, addrA, frame.Meta{Src: nameB, Dst: nameA}, heartbeat(hbPing, 1))
	waitUntil(t, "the forged heartbeats counted", func() bool { return a.Counters().WrongSource == 2 })
	if h := a.LinkHealth()[nameB]; !h.LastPong.IsZero() {
		t.Fatalf("a forged pong refreshed the link: %+v", h)
	}
	if s := trA.Stats(); s.Sent != 0 {
		t.Fatalf("A sent %d frames, want none (no answer to a forged ping)", s.Sent)
	}

	b := openRaw(t, n, nameB, "192.0.2.2:6783")
	b.send(t, addrA, frame.Meta{Src: nameB, Dst: nameA}, heartbeat(hbPong, time.Now().UnixNano()))
	waitUntil(t, "B's pong recorded", func() bool { return !a.LinkHealth()[nameB].LastPong.IsZero() })
	b.send(t, addrA, frame.Meta{Src: nameB, Dst: nameA}, heartbeat(hbPing, 42))
	bt := frame.NewBatch(1, transport.MaxOverhead)
	eps := make([]transport.Endpoint, 1)
	got := make(chan error, 1)
	go func() {
		_, err := b.recv(bt, eps)
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("B's ping was not answered")
	}
	if f := bt.Frame(0); !isHeartbeat(f) || f[14] != hbPong || binary.BigEndian.Uint64(f[22:30]) != 42 {
		t.Errorf("B got %x, want a pong echoing 42", f)
	}
	if a.Counters().WrongSource != 2 {
		t.Errorf("counters %+v, want the 2 forged heartbeats only", a.Counters())
	}
}

// TestFrameOnAnotherTransportIsDropped: a neighbour whose link runs on one
// transport cannot be spoken for on another, even from its address.
func TestFrameOnAnotherTransportIsDropped(t *testing.T) {
	leakcheck.Check(t)
	netX, netY := memory.NewNetwork(), memory.NewNetwork()
	ay := netY.NewTransport(nameA, netip.MustParseAddrPort("198.51.100.1:6784"))
	a, devA := startRouter(t, nameA, netX.NewTransport(nameA, addrA), []transport.Transport{ay},
		[]link.Peer{{Name: nameC, Endpoint: apEP("198.51.100.3:6784"), Transport: ay}})
	forger := openRaw(t, netX, nameC, "198.51.100.3:6784") // C's address, on the other transport
	c := openRaw(t, netY, nameC, "198.51.100.3:6784")

	forged := ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 0x66}, "forged")
	forger.send(t, addrA, frame.Meta{Src: nameC}, forged)
	waitUntil(t, "the frame on the wrong transport counted", func() bool { return a.Counters().WrongSource == 1 })
	expectNothing(t, devA)
	real := ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 3}, "from c")
	c.send(t, netip.MustParseAddrPort("198.51.100.1:6784"), frame.Meta{Src: nameC}, real)
	expectFrame(t, devA, real)
}

// superTCP returns a TCPv4 super-frame of 3054 bytes and its descriptor.
func superTCP(dst, src frame.MAC) ([]byte, frame.GSO) {
	f := make([]byte, 14+20+20+3000)
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], frame.EtherTypeIPv4)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 32, 0, 1})
	copy(ip[16:], []byte{10, 32, 0, 2})
	ip[20+12] = 5 << 4
	return f, frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 54, Size: 1000, CsumStart: 34, CsumOffset: 16}
}

// TestBadGSOIsDropped: a super-frame whose descriptor does not fit it
// never reaches the device; a good one does, with its descriptor.
func TestBadGSOIsDropped(t *testing.T) {
	leakcheck.Check(t)
	n := memory.NewNetwork()
	a, devA := startRouter(t, nameA, n.NewTransport(nameA, addrA), nil,
		[]link.Peer{{Name: nameB, Endpoint: apEP("192.0.2.2:6783")}})
	b := openRaw(t, n, nameB, "192.0.2.2:6783")
	f, g := superTCP(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 2})
	for _, bad := range []frame.GSO{
		{Flags: g.Flags, Type: frame.GSOTCPv6, HdrLen: g.HdrLen, Size: g.Size, CsumStart: g.CsumStart, CsumOffset: g.CsumOffset},
		{Flags: g.Flags, Type: g.Type, HdrLen: g.HdrLen, CsumStart: g.CsumStart, CsumOffset: g.CsumOffset}, // Size 0
		{Flags: frame.GSOFlagNeedsCsum, CsumStart: 14, CsumOffset: 0xfff0},                                 // past the frame
	} {
		b.send(t, addrA, frame.Meta{Src: nameB, GSO: bad}, f)
	}
	waitUntil(t, "the bad descriptors counted", func() bool { return a.Counters().BadGSO == 3 })
	expectNothing(t, devA)
	b.send(t, addrA, frame.Meta{Src: nameB, GSO: g}, f)
	expectFrame(t, devA, f)
	if d := a.Drops(); d["bad_gso"] != 3 {
		t.Errorf("Drops()[bad_gso] = %d, want 3", d["bad_gso"])
	}
}

// BenchmarkFilterBatch measures the receive path's per-batch filtering of
// 64 frames from one neighbour: sender lookup and source check per run,
// GSO check per frame with a descriptor.
func BenchmarkFilterBatch(b *testing.B) {
	for _, size := range []int{64, 1500, 9000} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			tr := &discard{}
			r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr})
			if err != nil {
				b.Fatal(err)
			}
			ep := apEP("192.0.2.2:6783")
			r.SetPeers([]link.Peer{{Name: nameB, Endpoint: ep}})
			bt := frame.NewBatch(64, transport.MaxOverhead)
			eps := make([]transport.Endpoint, 64)
			pong := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
			f := make([]byte, size)
			copy(f, frame.Broadcast[:])
			g := frame.GSO{Flags: frame.GSOFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}
			fill := func() {
				for i := range bt.Cap() {
					bt.Sizes[i] = copy(bt.Room(i), f)
					bt.Meta[i] = frame.Meta{Src: nameB, Via: nameB}
					if i%2 == 0 {
						bt.Meta[i].GSO = g
					}
					eps[i] = ep
				}
				bt.N = bt.Cap()
			}
			b.ReportAllocs()
			b.SetBytes(int64(64 * size))
			for b.Loop() {
				fill()
				r.filterBatch(bt, eps, tr, pong)
				if bt.N != 64 {
					b.Fatalf("kept %d frames", bt.N)
				}
			}
			b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "pkts/s")
		})
	}
}
