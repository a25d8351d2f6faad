package wireguard

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// newTDelay is newT with an InitiateDelay.
func newTDelay(t *testing.T, self frame.PeerName, delay time.Duration) *Transport {
	t.Helper()
	return newTWith(t, Config{Self: self, InitiateDelay: delay})
}

// Two routers that set each other up at the same moment (both ends of a
// punched connection do) make one handshake, the smaller name's: were
// both to initiate, each would answer the other's initiation and drop
// the answer to its own, and no session would exist until a retry five
// seconds later.
func TestSimultaneousPeersOneHandshake(t *testing.T) {
	for i := range 3 {
		// The delay is long enough that b could only initiate on a's
		// silence, which does not happen here.
		a, b := newTDelay(t, nameA, time.Minute), newTDelay(t, nameB, time.Minute)
		fa, la, err := a.Open()
		if err != nil {
			t.Fatal(err)
		}
		fb, lb, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, add := range []func() error{
			func() error { return a.AddPeer(nameB, b.PublicKey(), lb) },
			func() error { return b.AddPeer(nameA, a.PublicKey(), la) },
		} {
			wg.Go(func() {
				<-start
				if err := add(); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		epA, epB := transport.AddrPortEndpoint(la), transport.AddrPortEndpoint(lb)
		linkUp(t, a, b, fb[0], nameA, nameB, epB)
		linkUp(t, b, a, fa[0], nameB, nameA, epA)
		// b never initiates. a may have initiated twice: its first
		// initiation can reach b's device before b's AddPeer has
		// configured a, which drops it, and a retries five seconds later
		// (in a router b initiates itself once its wait ends; here the
		// wait is a minute).
		if ia, ib := a.stats.Initiations.Load(), b.stats.Initiations.Load(); ia < 1 || ib != 0 {
			t.Errorf("round %d: handshake initiations sent by a, b = %d, %d; want at least 1, 0", i, ia, ib)
		}
		a.Close()
		b.Close()
	}
}

// The larger name initiates once the delay passes when the smaller's
// initiations do not arrive (here they go to a wrong port; through NATs
// the larger one's NAT drops them until the larger one has sent to the
// smaller one). Frames it is given meanwhile are dropped and counted.
func TestInitiateAfterDelay(t *testing.T) {
	const delay = 2 * time.Second
	a, b := newTDelay(t, nameA, delay), newTDelay(t, nameB, delay)
	fa, la, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(); err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close() // a's initiations end here, unread
	if err := a.AddPeer(nameB, b.PublicKey(), c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(nameA, a.PublicKey(), la); err != nil {
		t.Fatal(err)
	}
	out := frame.NewBatch(1, transport.MaxOverhead)
	copy(out.Room(0), testFrame(60, 0xee))
	out.Sizes[0], out.Meta[0], out.N = 60, frame.Meta{Src: nameB, Dst: nameA}, 1
	epA := transport.AddrPortEndpoint(la)
	if err := b.Send(out, epA); err != nil {
		t.Fatal(err)
	}
	if n := b.stats.TxAwaiting.Load(); n != 1 {
		t.Errorf("frames dropped awaiting a's handshake = %d, want 1", n)
	}
	// The wait ends after delay: frames then go, after b's handshake.
	linkUp(t, b, a, fa[0], nameB, nameA, epA)
	if n := b.stats.TxAwaiting.Load(); n < 2 {
		t.Errorf("frames dropped awaiting a's handshake = %d, want the first and those of the next %v", n, delay)
	}
	if n := b.stats.Initiations.Load(); n == 0 {
		t.Error("b sent no handshake initiation")
	}
	if r := b.Report(); r.Counters["handshake_initiations"] != b.stats.Initiations.Load() || r.Drops["tx_awaiting_handshake"] != b.stats.TxAwaiting.Load() {
		t.Errorf("report %+v does not show the stats %+v", r, b.stats.Snapshot())
	}
}

// The larger name's first datagram to a new peer is an opener, which
// opens its NAT for the smaller name's initiation; the smaller name's is
// that initiation, at once.
func TestOpenerAndFirstInitiation(t *testing.T) {
	for _, tc := range []struct {
		self, peer frame.PeerName
		want       []byte // length and first byte
	}{
		{nameB, nameA, opener},
		{nameA, nameB, make([]byte, 148)}, // a handshake initiation: type 1
	} {
		if len(tc.want) == 148 {
			tc.want[0] = 1
		}
		tr := newTDelay(t, tc.self, time.Minute)
		if _, _, err := tr.Open(); err != nil {
			t.Fatal(err)
		}
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		k, _ := GenerateKey()
		if err := tr.AddPeer(tc.peer, PublicKeyOf(k), c.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(linkDeadline))
		buf := make([]byte, 2048)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(tc.want) || buf[0] != tc.want[0] {
			t.Errorf("%v's first datagram to %v: %d bytes, % x..., want %d, %x...", tc.self, tc.peer, n, buf[:min(n, 4)], len(tc.want), tc.want[0])
		}
		c.Close()
		tr.Close()
	}
}
