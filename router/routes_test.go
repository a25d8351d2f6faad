package router

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// bfsRoutes is a plain BFS routing table for tests: shortest paths,
// neighbours visited in ascending name order.
type bfsRoutes struct {
	self  frame.PeerName
	adj   map[frame.PeerName][]frame.PeerName
	hop   map[frame.PeerName]frame.PeerName
	trees map[frame.PeerName]map[frame.PeerName][]frame.PeerName // src -> parent -> children
}

func newBFSRoutes(self frame.PeerName, edges [][2]frame.PeerName) *bfsRoutes {
	r := &bfsRoutes{self: self, adj: map[frame.PeerName][]frame.PeerName{}, hop: map[frame.PeerName]frame.PeerName{},
		trees: map[frame.PeerName]map[frame.PeerName][]frame.PeerName{}}
	for _, e := range edges {
		r.adj[e[0]] = append(r.adj[e[0]], e[1])
		r.adj[e[1]] = append(r.adj[e[1]], e[0])
	}
	for _, v := range r.adj {
		slices.Sort(v)
	}
	for src := range r.adj {
		parent := map[frame.PeerName]frame.PeerName{src: src}
		children := map[frame.PeerName][]frame.PeerName{}
		q := []frame.PeerName{src}
		for len(q) > 0 {
			n := q[0]
			q = q[1:]
			for _, m := range r.adj[n] {
				if _, seen := parent[m]; !seen {
					parent[m] = n
					children[n] = append(children[n], m)
					q = append(q, m)
				}
			}
		}
		r.trees[src] = children
		if src == self {
			for dst := range parent {
				h := dst
				for parent[h] != self && h != self {
					h = parent[h]
				}
				r.hop[dst] = h
			}
		}
	}
	return r
}

func (r *bfsRoutes) NextHop(dst frame.PeerName) (frame.PeerName, bool) {
	h, ok := r.hop[dst]
	return h, ok && dst != r.self
}

func (r *bfsRoutes) BroadcastNext(src frame.PeerName) []frame.PeerName { return r.trees[src][r.self] }

func (r *bfsRoutes) BroadcastFrom(src frame.PeerName) (frame.PeerName, bool) {
	for parent, children := range r.trees[src] {
		if slices.Contains(children, r.self) {
			return parent, true
		}
	}
	return frame.UnknownPeer, false
}

// TestMultiHopSeedTopology wires five routers as in the seed's picture
// (1–2, 1–3, 3–4, 3–5) with routes: a broadcast from 1 reaches every
// host exactly once, and unicast from 1 to 5 is relayed by 3.
func TestMultiHopSeedTopology(t *testing.T) {
	net := memory.NewNetwork()
	names := []frame.PeerName{0, 0x020000000001, 0x020000000002, 0x020000000003, 0x020000000004, 0x020000000005}
	edges := [][2]frame.PeerName{{names[1], names[2]}, {names[1], names[3]}, {names[3], names[4]}, {names[3], names[5]}}
	addr := func(i int) netip.AddrPort { return netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:6783", i)) }
	devs := map[int]*fakeDevice{}
	routers := map[int]*Router{}
	for i := 1; i <= 5; i++ {
		devs[i] = newFakeDevice()
		r, err := New(Config{Self: names[i], Device: devs[i], Transport: net.NewTransport(names[i], addr(i))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		routers[i] = r
	}
	for i := 1; i <= 5; i++ {
		var links []link.Peer
		for _, e := range edges {
			for k, j := range []int{int(e[0] & 0xff), int(e[1] & 0xff)} {
				if j == i {
					other := int(e[1-k] & 0xff)
					links = append(links, link.Peer{Name: names[other], Endpoint: transport.AddrPortEndpoint(addr(other))})
				}
			}
		}
		routers[i].SetPeers(links)
		routers[i].SetRoutes(newBFSRoutes(names[i], edges))
	}

	mac := func(i int) frame.MAC { return frame.MAC{0x0a, 0, 0, 0, 0, byte(i)} }
	bc := ethFrame(frame.Broadcast, mac(1), "hello all")
	devs[1].in <- bc
	for i := 2; i <= 5; i++ {
		expectFrame(t, devs[i], bc)
	}
	for i := 1; i <= 5; i++ {
		expectNothing(t, devs[i]) // exactly once, and not back home
	}

	// 5 answers 1 by unicast: relayed through 3, delivered only at 1.
	reply := ethFrame(mac(1), mac(5), "hi one")
	devs[5].in <- reply
	expectFrame(t, devs[1], reply)
	for i := 2; i <= 5; i++ {
		expectNothing(t, devs[i])
	}
	if p, ok := routers[1].sw.Lookup(mac(5)); !ok || p != names[5] {
		t.Errorf("1 learned %v on %v, want %v (the originating peer, not the relay)", mac(5), p, names[5])
	}
	// And 1 -> 5 goes via 3.
	uni := ethFrame(mac(5), mac(1), "direct")
	devs[1].in <- uni
	expectFrame(t, devs[5], uni)
	// 3 counts a send once the transport returns, which can be after 5
	// delivered the frame.
	relayedBy3 := func() uint64 {
		for _, p := range routers[3].Peers() {
			if p.Name == names[5] {
				return p.TxFrames
			}
		}
		return 0
	}
	for deadline := time.Now().Add(2 * time.Second); relayedBy3() < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if relayedBy3 := relayedBy3(); relayedBy3 < 2 {
		t.Errorf("3 sent %d frames to 5, want the broadcast and the unicast", relayedBy3)
	}
	// No route: counted, not flooded.
	routers[1].SetRoutes(newBFSRoutes(names[1], edges[:1]))
	devs[1].in <- uni
	deadline := time.Now().Add(2 * time.Second)
	for routers[1].Counters().NoRoute == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if routers[1].Counters().NoRoute == 0 {
		t.Error("a frame without a route was not counted")
	}
	expectNothing(t, devs[5])
}

// TestFloodForMACElsewhereNotDelivered: on the line 1–2–3, router 1 has
// forgotten where 3's MAC lives (as after a partition) and floods a frame
// for it; router 2, which knows the MAC is on 3, passes the flood on to 3
// but does not write it into its own bridge, where a kernel fast-path
// entry for that MAC would send 3 a second copy.
func TestFloodForMACElsewhereNotDelivered(t *testing.T) {
	net := memory.NewNetwork()
	names := []frame.PeerName{0, 0x020000000001, 0x020000000002, 0x020000000003}
	edges := [][2]frame.PeerName{{names[1], names[2]}, {names[2], names[3]}}
	addr := func(i int) netip.AddrPort { return netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:6783", i)) }
	devs := map[int]*fakeDevice{}
	routers := map[int]*Router{}
	for i := 1; i <= 3; i++ {
		devs[i] = newFakeDevice()
		r, err := New(Config{Self: names[i], Device: devs[i], Transport: net.NewTransport(names[i], addr(i))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		routers[i] = r
	}
	ep := func(i int) link.Peer { return link.Peer{Name: names[i], Endpoint: transport.AddrPortEndpoint(addr(i))} }
	routers[1].SetPeers([]link.Peer{ep(2)})
	routers[2].SetPeers([]link.Peer{ep(1), ep(3)})
	routers[3].SetPeers([]link.Peer{ep(2)})
	for i := 1; i <= 3; i++ {
		routers[i].SetRoutes(newBFSRoutes(names[i], edges))
	}
	mac := func(i int) frame.MAC { return frame.MAC{0x0a, 0, 0, 0, 0, byte(i)} }

	// Every router learns where mac(3) lives.
	bc := ethFrame(frame.Broadcast, mac(3), "hello from 3")
	devs[3].in <- bc
	expectFrame(t, devs[1], bc)
	expectFrame(t, devs[2], bc)
	if n := routers[1].sw.ForgetPeer(names[3]); n != 1 {
		t.Fatalf("1 forgot %d MACs of 3, want 1", n)
	}

	uni := ethFrame(mac(3), mac(1), "to 3, flooded by 1")
	devs[1].in <- uni
	expectFrame(t, devs[3], uni)
	// A broadcast from 1 behind it takes the same path: it must be the
	// next frame 2's bridge gets.
	marker := ethFrame(frame.Broadcast, mac(1), "marker")
	devs[1].in <- marker
	expectFrame(t, devs[2], marker)
	expectFrame(t, devs[3], marker)
	if s := routers[2].SwitchStats(); s.FloodOnly != 1 {
		t.Errorf("2 passed on %d flooded frames without delivering them, want 1", s.FloodOnly)
	}
}

// TestFloodTakenOnlyFromParent: on the diamond 1–2, 1–3, 2–4, 3–4, router
// 3 has a stale view without the link 2–4, so it believes it is 4's
// parent in 1's broadcast tree and forwards 1's broadcast to 4 as 2 does.
// Router 4 delivers the copy from its parent (2) and drops the other.
func TestFloodTakenOnlyFromParent(t *testing.T) {
	net := memory.NewNetwork()
	names := []frame.PeerName{0, 0x020000000001, 0x020000000002, 0x020000000003, 0x020000000004}
	edges := [][2]frame.PeerName{{names[1], names[2]}, {names[1], names[3]}, {names[2], names[4]}, {names[3], names[4]}}
	stale := [][2]frame.PeerName{edges[0], edges[1], edges[3]}
	addr := func(i int) netip.AddrPort { return netip.MustParseAddrPort(fmt.Sprintf("192.0.2.%d:6783", i)) }
	devs := map[int]*fakeDevice{}
	routers := map[int]*Router{}
	for i := 1; i <= 4; i++ {
		devs[i] = newFakeDevice()
		r, err := New(Config{Self: names[i], Device: devs[i], Transport: net.NewTransport(names[i], addr(i))})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		routers[i] = r
	}
	ep := func(i int) link.Peer { return link.Peer{Name: names[i], Endpoint: transport.AddrPortEndpoint(addr(i))} }
	routers[1].SetPeers([]link.Peer{ep(2), ep(3)})
	routers[2].SetPeers([]link.Peer{ep(1), ep(4)})
	routers[3].SetPeers([]link.Peer{ep(1), ep(4)})
	routers[4].SetPeers([]link.Peer{ep(2), ep(3)})
	for i := 1; i <= 4; i++ {
		e := edges
		if i == 3 {
			e = stale
		}
		routers[i].SetRoutes(newBFSRoutes(names[i], e))
	}
	if got := routers[3].routes.Load().r.BroadcastNext(names[1]); !slices.Equal(got, []frame.PeerName{names[4]}) {
		t.Fatalf("3 forwards 1's broadcast to %v, want 4 (the stale view)", got)
	}

	bc := ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 1}, "hello from 1")
	devs[1].in <- bc
	expectFrame(t, devs[4], bc)
	waitUntil(t, "4 drops the copy from 3", func() bool { return routers[4].Counters().OffTree == 1 })
	if n := len(devs[4].out); n != 0 {
		t.Errorf("4's bridge got %d more frames, want the broadcast once", n)
	}
	if d := routers[4].Drops()["off_tree"]; d != 1 {
		t.Errorf("off_tree drops %d, want 1", d)
	}
}
