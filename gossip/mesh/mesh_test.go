package mesh

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// fakeRouter stands for the data path: every peer handed to it answers
// heartbeats at once.
type fakeRouter struct {
	mu      sync.Mutex
	peers   []link.Peer
	routes  link.Routes
	forgot  map[frame.PeerName]int
	silence bool // heartbeats go unanswered
	// health, if set, is what LinkHealth reports instead.
	health map[frame.PeerName]link.Health
}

func newFakeRouter() *fakeRouter { return &fakeRouter{forgot: map[frame.PeerName]int{}} }

func (f *fakeRouter) SetPeers(l []link.Peer)  { f.mu.Lock(); f.peers = l; f.mu.Unlock() }
func (f *fakeRouter) SetRoutes(r link.Routes) { f.mu.Lock(); f.routes = r; f.mu.Unlock() }
func (f *fakeRouter) SendHeartbeats()         {}
func (f *fakeRouter) ForgetMACs(p frame.PeerName) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot[p]++
	return 0
}
func (f *fakeRouter) LinkHealth() map[frame.PeerName]link.Health {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[frame.PeerName]link.Health{}
	if f.health != nil {
		for k, v := range f.health {
			out[k] = v
		}
		return out
	}
	if f.silence {
		return out
	}
	for _, l := range f.peers {
		out[l.Name] = link.Health{LastPong: time.Now(), RTT: time.Millisecond}
	}
	return out
}
func (f *fakeRouter) forgotten(p frame.PeerName) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.forgot[p]
}

// keyedTransport records the data keys the mesh installs.
type keyedTransport struct {
	*memory.Transport
	mu   sync.Mutex
	keys map[frame.PeerName][2][32]byte
}

func (k *keyedTransport) SetKeys(p frame.PeerName, _ netip.AddrPort, send, recv [32]byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[p] = [2][32]byte{send, recv}
	return nil
}

func (k *keyedTransport) RemoveKeys(p frame.PeerName) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.keys, p)
}

func (k *keyedTransport) key(p frame.PeerName) ([2][32]byte, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.keys[p]
	return v, ok
}

type node struct {
	m  *Mesh
	rt *fakeRouter
	tr *keyedTransport
}

func startNode(t *testing.T, name frame.PeerName, password string, noDiscovery bool, peers ...string) *node {
	t.Helper()
	return startNodeAt(t, name, password, noDiscovery, netip.MustParseAddrPort("127.0.0.1:0"), peers...)
}

func startNodeAt(t *testing.T, name frame.PeerName, password string, noDiscovery bool, listen netip.AddrPort, peers ...string) *node {
	t.Helper()
	rt := newFakeRouter()
	tr := &keyedTransport{Transport: memory.NewNetwork().NewTransport(name, netip.MustParseAddrPort("127.0.0.1:1")),
		keys: map[frame.PeerName][2][32]byte{}}
	m, err := New(Config{
		Self: name, Nickname: fmt.Sprintf("n%d", name&0xff), Password: []byte(password),
		Listen: listen, Peers: peers, NoDiscovery: noDiscovery,
		Router: rt, Links: []Link{sleeveLink(tr, password != "")}, MTU: 1426, HeartbeatInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	return &node{m: m, rt: rt, tr: tr}
}

func (n *node) addr() string { return n.m.Addr().String() }

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (n *node) status() Status { return n.m.Status(context.Background()) }

func (n *node) established() int {
	c := 0
	for _, cs := range n.status().Connections {
		if cs.State == "established" {
			c++
		}
	}
	return c
}

func (n *node) reachable() int {
	c := 0
	for _, p := range n.status().Peers {
		if p.Reachable {
			c++
		}
	}
	return c
}

var _ transport.Transport = (*memory.Transport)(nil)

func TestDiscoveryMakesFullMesh(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	a := startNode(t, 0x020000000001, "", false)
	b := startNode(t, 0x020000000002, "", false, a.addr())
	c := startNode(t, 0x020000000003, "", false, b.addr())
	// c was told only of b; gossip tells it of a, and it connects.
	waitFor(t, "a full mesh of three", func() bool {
		return a.established() == 2 && b.established() == 2 && c.established() == 2
	})
	waitFor(t, "routes in every data path", func() bool {
		for _, n := range []*node{a, b, c} {
			n.rt.mu.Lock()
			r := n.rt.routes
			n.rt.mu.Unlock()
			if r == nil || r.BroadcastNext(n.m.cfg.Self) == nil {
				return false
			}
		}
		return true
	})
	for _, n := range []*node{a, b, c} {
		if got := n.reachable(); got != 3 {
			t.Errorf("%v sees %d reachable peers, want 3", n.m.cfg.Self, got)
		}
		n.rt.mu.Lock()
		if len(n.rt.peers) != 2 || n.rt.routes == nil {
			t.Errorf("%v: data path got %d peers, routes %v", n.m.cfg.Self, len(n.rt.peers), n.rt.routes)
		}
		n.rt.mu.Unlock()
	}
	for _, n := range []*node{a, b, c} {
		n.m.Close()
	}
}

func TestMultiHopWithoutDiscovery(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	a := startNode(t, 0x020000000001, "", true)
	b := startNode(t, 0x020000000002, "", true, a.addr())
	c := startNode(t, 0x020000000003, "", true, b.addr())
	waitFor(t, "a chain a-b-c", func() bool { return a.reachable() == 3 && c.reachable() == 3 })
	if a.established() != 1 || c.established() != 1 {
		t.Errorf("connections: a %d c %d, want 1 each (no discovery)", a.established(), c.established())
	}
	for _, p := range c.status().Peers {
		if p.Name == "02:00:00:00:00:01" && p.NextHop != "02:00:00:00:00:02" {
			t.Errorf("c's next hop to a = %q, want b", p.NextHop)
		}
	}
	// b leaves: a and c lose each other, and forget its MACs.
	b.m.Close()
	waitFor(t, "a and c to see the chain cut", func() bool { return a.reachable() == 1 && c.reachable() == 1 })
	waitFor(t, "c to purge a's MACs", func() bool { return c.rt.forgotten(0x020000000001) > 0 })
	a.m.Close()
	c.m.Close()
}

func TestRestartIsNoticed(t *testing.T) {
	a := startNode(t, 0x020000000001, "", false)
	defer a.m.Close()
	b := startNode(t, 0x020000000002, "", false, a.addr())
	waitFor(t, "a-b", func() bool { return a.established() == 1 })
	b.m.Close()
	b2 := startNode(t, 0x020000000002, "", false, a.addr())
	defer b2.m.Close()
	waitFor(t, "a-b again", func() bool { return a.established() == 1 && a.reachable() == 2 })
	waitFor(t, "a to purge b's stale MACs", func() bool { return a.rt.forgotten(0x020000000002) > 0 })
	for _, p := range a.status().Peers {
		if p.Name == "02:00:00:00:00:02" && p.UID != b2.m.uid {
			t.Errorf("a has b's UID %d, want the new run's %d", p.UID, b2.m.uid)
		}
	}
}

func TestPasswords(t *testing.T) {
	tests := []struct {
		name     string
		pa, pb   string
		ok       bool
		reason   string
		encrypts bool
	}{
		{name: "same password", pa: "s3cret", pb: "s3cret", ok: true, encrypts: true},
		{name: "no password", ok: true},
		{name: "wrong password", pa: "s3cret", pb: "other", reason: "wrong password"},
		{name: "only the listener has one", pa: "s3cret", reason: "password"},
		{name: "only the dialer has one", pb: "s3cret", reason: "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startNode(t, 0x020000000001, tt.pa, true)
			defer a.m.Close()
			b := startNode(t, 0x020000000002, tt.pb, true, a.addr())
			defer b.m.Close()
			if tt.ok {
				waitFor(t, "connection", func() bool { return b.established() == 1 })
				cs := b.status().Connections[0]
				if cs.Encrypted != tt.encrypts {
					t.Errorf("encrypted = %v, want %v", cs.Encrypted, tt.encrypts)
				}
				kb, okb := b.tr.key(0x020000000001)
				ka, oka := a.tr.key(0x020000000002)
				if okb != tt.encrypts || oka != tt.encrypts {
					t.Fatalf("data keys installed: a %v b %v, want %v", oka, okb, tt.encrypts)
				}
				if tt.encrypts && (kb[0] != ka[1] || kb[1] != ka[0] || kb[0] == kb[1]) {
					t.Error("data keys do not match crosswise, or are equal per direction")
				}
				if tt.encrypts {
					b.m.Close()
					waitFor(t, "a removes b's keys when b leaves", func() bool { _, ok := a.tr.key(0x020000000002); return !ok })
				}
				return
			}
			waitFor(t, "a refusal in status", func() bool {
				for _, cs := range b.status().Connections {
					if cs.State == "retrying" && strings.Contains(cs.Reason, tt.reason) {
						return true
					}
				}
				return false
			})
			if a.established() != 0 || b.established() != 0 {
				t.Error("connected despite the password mismatch")
			}
			// The listener's status shows the refusal too.
			waitFor(t, "the refusal in the listener's status", func() bool {
				for _, cs := range a.status().Connections {
					if cs.Direction == "inbound" && cs.State == "refused" && strings.Contains(cs.Reason, tt.reason) {
						return true
					}
				}
				return false
			})
		})
	}
}

func TestLinkNeedsDataPath(t *testing.T) {
	a := startNode(t, 0x020000000001, "", true)
	defer a.m.Close()
	b := startNode(t, 0x020000000002, "", true, a.addr())
	defer b.m.Close()
	waitFor(t, "established", func() bool { return b.established() == 1 })
	// The data path stops answering: the link is down, out of the routes.
	b.rt.mu.Lock()
	b.rt.silence = true
	b.rt.mu.Unlock()
	if err := b.m.call(context.Background(), func() { b.m.cfg.LinkTimeout = 200 * time.Millisecond }); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "link down", func() bool {
		cs := b.status().Connections
		return len(cs) == 1 && cs[0].State == "pending" && strings.Contains(cs[0].Reason, "data path")
	})
	waitFor(t, "a out of b's routes", func() bool { return b.reachable() == 1 })
}

// TestInboundSatisfiesTarget: a starts first with b as its --peer; its
// dial fails and waits to retry. b starts and dials a. a must take that
// inbound connection as the one its target wanted: dialing b again would
// win the tie-break and replace a working link (the link is down until the
// new one is established).
func TestInboundSatisfiesTarget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bAddr := netip.MustParseAddrPort(l.Addr().String())
	l.Close() // nobody listens there until b starts: a's first dial is refused
	a := startNode(t, 0x020000000001, "", true, bAddr.String())
	defer a.m.Close()
	waitFor(t, "a's first dial to fail", func() bool {
		cs := a.status().Connections
		return len(cs) == 1 && cs[0].State == "retrying"
	})
	b := startNodeAt(t, 0x020000000002, "", true, bAddr, a.addr())
	defer b.m.Close()
	waitFor(t, "b's connection", func() bool { return a.established() == 1 && b.established() == 1 })
	// a's retry was due within 1.5 s of its failure; give it 3 s.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range a.status().Connections {
			if c.Direction != "inbound" || c.State != "established" {
				t.Fatalf("a still dials b (a retry would replace the working inbound link), or did: %+v", a.status().Connections)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cs := a.status().Connections; len(cs) != 1 {
		t.Fatalf("a lists %d connections, want 1 (the target merged into the inbound one): %+v", len(cs), cs)
	}
}

func TestConnectAndForget(t *testing.T) {
	a := startNode(t, 0x020000000001, "", true)
	defer a.m.Close()
	b := startNode(t, 0x020000000002, "", true)
	defer b.m.Close()
	ctx := context.Background()
	if err := b.m.Connect(ctx, a.addr(), ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connect", func() bool { return b.established() == 1 })
	ok, err := b.m.Forget(ctx, a.addr())
	if err != nil || !ok {
		t.Fatalf("Forget = %v, %v", ok, err)
	}
	waitFor(t, "forget", func() bool { return len(b.status().Connections) == 0 && a.established() == 0 })
	if ok, _ := b.m.Forget(ctx, a.addr()); ok {
		t.Error("forgot an unknown target")
	}
}

// TestTransportNegotiation: a link uses the transport its dialer asks for
// when both ends offer it, else the sleeve, and status says why.
func TestTransportNegotiation(t *testing.T) {
	start := func(name frame.PeerName, withQUIC bool, peers ...string) *node {
		t.Helper()
		rt := newFakeRouter()
		netw := memory.NewNetwork()
		tr := &keyedTransport{Transport: netw.NewTransport(name, netip.MustParseAddrPort("127.0.0.1:1")), keys: map[frame.PeerName][2][32]byte{}}
		links := []Link{sleeveLink(tr, false)}
		if withQUIC {
			q := netw.NewTransport(name, netip.MustParseAddrPort("127.0.0.1:2"))
			links = append(links, &testLink{name: "quic", t: q, port: 6784, portCap: "quic.port"})
		}
		m, err := New(Config{
			Self: name, Listen: netip.MustParseAddrPort("127.0.0.1:0"), Peers: peers, NoDiscovery: true,
			Router: rt, Links: links, HeartbeatInterval: 50 * time.Millisecond,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return &node{m: m, rt: rt, tr: tr}
	}
	a := start(0x020000000001, true)
	b := start(0x020000000002, true, a.addr()+",transport=quic")
	c := start(0x020000000003, false)
	waitFor(t, "a-b on quic", func() bool { return b.established() == 1 })
	if cs := b.status().Connections[0]; cs.Transport != "quic" || cs.Asked != "quic" || cs.Fallback != "" {
		t.Errorf("b's link: %+v, want quic as asked", cs)
	}
	b.rt.mu.Lock()
	if len(b.rt.peers) != 1 || b.rt.peers[0].Transport == b.tr || b.rt.peers[0].Endpoint.DstAddrPort().Port() != 6784 {
		t.Errorf("b's data path link = %+v, want the quic transport on port 6784", b.rt.peers)
	}
	b.rt.mu.Unlock()
	// a asks c for quic; c does not offer it: both fall back to the sleeve.
	if err := a.m.Connect(context.Background(), c.addr(), "quic"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a-c on the sleeve", func() bool { return c.established() == 1 })
	for _, cs := range c.status().Connections {
		if cs.Transport != "sleeve" || cs.Asked != "quic" || !strings.Contains(cs.Fallback, "does not offer") {
			t.Errorf("c's link: %+v, want the sleeve with the reason", cs)
		}
	}
	// Asking for a transport this router lacks is an error at once.
	if err := c.m.Connect(context.Background(), a.addr(), "quic"); err == nil {
		t.Error("c asked for quic, which it does not offer, without an error")
	}
	if _, _, err := ParsePeerSpec("192.0.2.1,colour=blue"); err == nil {
		t.Error("ParsePeerSpec accepted an unknown option")
	}
}

// A mesh with a password refuses a link that does not encrypt, so that
// no fallback can carry plaintext.
func TestPasswordNeedsEncryptedLinks(t *testing.T) {
	tr := memory.NewNetwork().NewTransport(0x020000000001, netip.MustParseAddrPort("127.0.0.1:1"))
	cfg := Config{
		Self: 0x020000000001, Password: []byte("s3cret"), Listen: netip.MustParseAddrPort("127.0.0.1:0"),
		Router: newFakeRouter(), Links: []Link{sleeveLink(tr, false)},
	}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "does not encrypt") {
		t.Fatalf("New with a plaintext link and a password: err = %v", err)
	}
	cfg.Password = nil
	if _, err := New(cfg); err != nil {
		t.Fatalf("New with a plaintext link and no password: %v", err)
	}
}

// A link that encrypts with keys of its own counts as encrypted only in a
// mesh with a password: without one, its keys came over an
// unauthenticated handshake.
func TestEncryptedNeedsAuthenticatedKeys(t *testing.T) {
	for _, password := range []string{"", "s3cret"} {
		t.Run("password="+password, func(t *testing.T) {
			var nodes []*node
			for i, peers := range [][]string{nil, {""}} {
				name := frame.PeerName(0x020000000001 + i)
				tr := &keyedTransport{Transport: memory.NewNetwork().NewTransport(name, netip.MustParseAddrPort("127.0.0.1:1")),
					keys: map[frame.PeerName][2][32]byte{}}
				if len(peers) > 0 {
					peers = []string{nodes[0].addr()}
				}
				m, err := New(Config{
					Self: name, Password: []byte(password), Listen: netip.MustParseAddrPort("127.0.0.1:0"), Peers: peers, NoDiscovery: true,
					Router: newFakeRouter(), Links: []Link{&testLink{name: "sleeve", t: tr, port: 6783, portCap: "sleeve.port", encrypt: true, ownKeys: true}},
					MTU: 1426, HeartbeatInterval: 50 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Start(); err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				nodes = append(nodes, &node{m: m, tr: tr})
			}
			b := nodes[1]
			waitFor(t, "connection", func() bool { return len(b.status().Connections) == 1 && b.status().Connections[0].Peer != "" })
			if got, want := b.status().Connections[0].Encrypted, password != ""; got != want {
				t.Fatalf("encrypted = %v, want %v", got, want)
			}
		})
	}
}

// Status carries the clock of the last gossip from a peer: zero alone,
// set once a peer is connected, and moving on while it stays connected.
func TestLastGossip(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	a := startNode(t, 0x020000000001, "", false)
	defer a.m.Close()
	if g := a.status().LastGossip; !g.IsZero() {
		t.Fatalf("a router alone heard gossip at %v", g)
	}
	b := startNode(t, 0x020000000002, "", false, a.addr())
	defer b.m.Close()
	waitFor(t, "a's first gossip from b", func() bool { return !a.status().LastGossip.IsZero() })
	first := a.status().LastGossip
	waitFor(t, "later gossip from b", func() bool { return a.status().LastGossip.After(first) })
}
