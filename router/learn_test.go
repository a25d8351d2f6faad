package router

import (
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// mover is a transport that keeps state by endpoint, as the sleeve does:
// it records what the router tells it and sends nowhere.
type mover struct {
	discard
	mu     sync.Mutex
	moves  []netip.AddrPort
	refuse bool
	to     []netip.AddrPort // the endpoints Send was given
	kinds  []byte           // the kind of each heartbeat sent (hbPing...), 0 for other frames
	flags  []byte           // and its flags
	sends  [][]byte         // per Send, the kind of each frame (0 for data)
}

func (m *mover) MoveEndpoint(peer frame.PeerName, to netip.AddrPort) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refuse {
		return errors.New("refused")
	}
	m.moves = append(m.moves, to)
	return nil
}

func (m *mover) Send(b *frame.Batch, ep transport.Endpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.to = append(m.to, ep.DstAddrPort())
	var kind, flags byte
	if f := b.Frame(0); isHeartbeat(f) {
		kind, flags = f[14], f[15]
	}
	m.kinds = append(m.kinds, kind)
	m.flags = append(m.flags, flags)
	var all []byte
	for i := range b.N {
		var k byte
		if f := b.Frame(i); isHeartbeat(f) {
			k = f[14]
		}
		all = append(all, k)
	}
	m.sends = append(m.sends, all)
	return nil
}

var (
	regB   = netip.MustParseAddrPort("203.0.113.10:6783")  // B's control IP and announced port
	natB   = netip.MustParseAddrPort("203.0.113.10:40001") // where B's NAT maps it
	otherB = netip.MustParseAddrPort("198.51.100.66:6783") // anyone else
)

// learnRig is a router with neighbour B, registered at regB, on a mover.
func learnRig(t *testing.T, encrypted bool) (*Router, *mover) {
	t.Helper()
	tr := &mover{}
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(regB), Encrypted: encrypted}})
	return r, tr
}

// receive runs one frame f from B, received from `from`, through the
// receive filter, and reports whether it was admitted (not counted as
// wrong_source; a heartbeat is then answered or recorded).
func receive(r *Router, tr transport.Transport, from netip.AddrPort, auth bool, f []byte) bool {
	b := frame.NewBatch(1, transport.MaxOverhead)
	b.Sizes[0] = copy(b.Room(0), f)
	b.Meta[0] = frame.Meta{Src: nameB, Via: nameB, Authenticated: auth}
	b.N = 1
	pong := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
	before := r.Counters().WrongSource
	r.filterBatch(b, []transport.Endpoint{transport.AddrPortEndpoint(from)}, tr, pong)
	return r.Counters().WrongSource == before
}

func endpointOf(r *Router, name frame.PeerName) netip.AddrPort { return r.LinkHealth()[name].Endpoint }

var dataFrame = ethFrame(frame.Broadcast, frame.MAC{0x0a, 0, 0, 0, 0, 2}, "data")

// TestAuthenticatedFrameMovesEndpoint: a frame the transport authenticated
// as B's, from an address B was not registered at, is kept and moves B's
// endpoint there (the transport is told first); frames from the old
// address are then refused, and replies go to the new one.
func TestAuthenticatedFrameMovesEndpoint(t *testing.T) {
	r, tr := learnRig(t, true)
	if !receive(r, tr, natB, true, dataFrame) {
		t.Fatal("an authenticated frame from B's NAT address was dropped")
	}
	if got := endpointOf(r, nameB); got != natB {
		t.Fatalf("B's endpoint %v, want %v", got, natB)
	}
	if len(tr.moves) != 1 || tr.moves[0] != natB {
		t.Errorf("transport told %v, want [%v]", tr.moves, natB)
	}
	if c := r.Counters(); c.EndpointMoves != 1 || c.WrongSource != 0 {
		t.Errorf("counters %+v, want 1 move and no wrong source", c)
	}
	if receive(r, tr, regB, false, dataFrame) {
		t.Error("an unauthenticated frame from B's old address was kept after the move")
	}
	r.SendHeartbeats()
	if len(tr.to) != 1 || tr.to[0] != natB {
		t.Errorf("heartbeat sent to %v, want %v", tr.to, natB)
	}
	if p := r.Peers()[0]; p.Endpoint != natB.String() || p.Address != regB.String() {
		t.Errorf("status %+v, want endpoint %v and registered address %v", p, natB, regB)
	}
}

// TestForgedDatagramDoesNotMoveEndpoint: on an encrypted link nothing
// unauthenticated moves B's endpoint, from another address or from B's
// own IP with another port, heartbeat or not; each is a wrong_source drop.
func TestForgedDatagramDoesNotMoveEndpoint(t *testing.T) {
	r, tr := learnRig(t, true)
	for _, from := range []netip.AddrPort{otherB, natB} {
		for _, f := range [][]byte{dataFrame, heartbeat(hbPing, 1), heartbeat(hbPong, 1)} {
			receive(r, tr, from, false, f)
		}
	}
	if got := endpointOf(r, nameB); got != regB {
		t.Errorf("B's endpoint moved to %v on forged frames", got)
	}
	if c := r.Counters(); c.WrongSource != 6 || c.EndpointMoves != 0 {
		t.Errorf("counters %+v, want 6 wrong source and no move", c)
	}
	if len(tr.moves) != 0 || len(tr.to) != 0 {
		t.Errorf("transport told %v, sent to %v; want nothing", tr.moves, tr.to)
	}
}

// TestInsecureLinkLearnsPortFromControlIP: a link without authentication
// follows a heartbeat from the IP of B's control connection to its new
// port, and nothing else: a data frame from there, or a heartbeat from
// another IP, is refused.
func TestInsecureLinkLearnsPortFromControlIP(t *testing.T) {
	r, tr := learnRig(t, false)
	if receive(r, tr, natB, false, dataFrame) {
		t.Error("a data frame from B's IP, another port, was kept")
	}
	receive(r, tr, otherB, false, heartbeat(hbPing, 1))
	if got := endpointOf(r, nameB); got != regB {
		t.Fatalf("B's endpoint moved to %v", got)
	}
	if c := r.Counters(); c.WrongSource != 2 {
		t.Fatalf("counters %+v, want 2 wrong source", c)
	}
	receive(r, tr, natB, false, heartbeat(hbPing, 1))
	if got := endpointOf(r, nameB); got != natB {
		t.Fatalf("B's endpoint %v after its ping from %v", got, natB)
	}
	// Answered (a pong, and a ping back: B's link is unconfirmed), to
	// the new endpoint.
	if len(tr.to) != 2 || tr.to[0] != natB || tr.to[1] != natB || tr.kinds[0] != hbPong {
		t.Errorf("the ping was answered to %v (kinds %v), want a pong to %v", tr.to, tr.kinds, natB)
	}
	if !receive(r, tr, natB, false, dataFrame) {
		t.Error("B's data frame from its new endpoint was dropped")
	}
}

// TestSetPeersKeepsLearnedEndpoint: the control plane repeating B's link
// keeps the endpoint B moved to, and tells the transport again (a new
// control connection gives the transport the registered address with the
// link's keys); a link registered elsewhere starts from its registration.
func TestSetPeersKeepsLearnedEndpoint(t *testing.T) {
	r, tr := learnRig(t, true)
	receive(r, tr, natB, true, dataFrame)
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(regB), Encrypted: true}})
	if got := endpointOf(r, nameB); got != natB {
		t.Fatalf("B's endpoint %v after SetPeers, want %v", got, natB)
	}
	if len(tr.moves) != 2 || tr.moves[1] != natB {
		t.Errorf("transport told %v, want natB twice", tr.moves)
	}
	other := netip.MustParseAddrPort("203.0.113.99:6783")
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(other), Encrypted: true}})
	if got := endpointOf(r, nameB); got != other {
		t.Errorf("B's endpoint %v after a new registration, want %v", got, other)
	}
}

// TestRefusedMoveDropsFrame: when the transport cannot follow B (no keys
// for it, say), the endpoint stays and the frame is dropped.
func TestRefusedMoveDropsFrame(t *testing.T) {
	r, tr := learnRig(t, true)
	tr.refuse = true
	if receive(r, tr, natB, true, dataFrame) {
		t.Error("frame kept although the transport refused the move")
	}
	if got := endpointOf(r, nameB); got != regB {
		t.Errorf("B's endpoint moved to %v", got)
	}
}

// TestLearnAllocatesNothingOnceMoved: frames from B's learned endpoint go
// through the fast check (no move, no allocation).
func TestLearnAllocatesNothingOnceMoved(t *testing.T) {
	r, tr := learnRig(t, true)
	receive(r, tr, natB, true, dataFrame)
	b := frame.NewBatch(16, transport.MaxOverhead)
	eps := make([]transport.Endpoint, 16)
	var ep transport.Endpoint = transport.AddrPortEndpoint(natB)
	pong := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
	fill := func() {
		for i := range b.Cap() {
			b.Sizes[i] = copy(b.Room(i), dataFrame)
			b.Meta[i] = frame.Meta{Src: nameB, Via: nameB, Authenticated: true}
			eps[i] = ep
		}
		b.N = b.Cap()
	}
	if n := testing.AllocsPerRun(100, func() { fill(); r.filterBatch(b, eps, tr, pong) }); n != 0 {
		t.Errorf("%v allocations per batch", n)
	}
	if b.N != 16 {
		t.Errorf("kept %d of 16", b.N)
	}
}
