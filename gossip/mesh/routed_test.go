package mesh

import (
	"bytes"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/topology"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport/memory"
)

func TestRoutedRoundTrip(t *testing.T) {
	r := routed{dst: 0x020000000003, src: 0x020000000001, ttl: 7, kind: routedCall, id: 0xdeadbeef, cands: []candidate{
		{addr: netip.MustParseAddrPort("192.168.1.2:6783"), local: true},
		{addr: netip.MustParseAddrPort("203.0.113.10:6783")},
		{addr: netip.MustParseAddrPort("[2001:db8::1]:7783"), local: true},
	}}
	b := r.encode()
	got, err := decodeRouted(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.dst != r.dst || got.src != r.src || got.ttl != r.ttl || got.kind != r.kind || got.id != r.id || len(got.cands) != len(r.cands) {
		t.Fatalf("decoded %+v, want %+v", got, r)
	}
	for i := range r.cands {
		if got.cands[i] != r.cands[i] {
			t.Errorf("candidate %d: %v, want %v", i, got.cands[i], r.cands[i])
		}
	}
	for _, bad := range [][]byte{
		b[:len(b)-1],                 // truncated
		append(b[:len(b):len(b)], 0), // trailing byte
		func() []byte { c := bytes.Clone(b); c[13] = 9; return c }(),                 // unknown kind
		func() []byte { c := bytes.Clone(b); c[18] = maxCandidates + 1; return c }(), // too many
		func() []byte { c := bytes.Clone(b); c[0], c[1], c[2], c[3], c[4], c[5] = 0, 0, 0, 0, 0, 0; return c }(),
	} {
		if _, err := decodeRouted(bad); err == nil {
			t.Errorf("decoded %x", bad)
		}
	}
}

// FuzzDecodeRouted: the decoder of routed messages, which come from any
// mesh member, never panics, and what it accepts encodes back to the
// same bytes.
func FuzzDecodeRouted(f *testing.F) {
	r := routed{dst: 3, src: 1, ttl: routedTTL, kind: routedAnswer, id: 1, cands: []candidate{
		{addr: netip.MustParseAddrPort("10.0.0.1:6783"), local: true},
		{addr: netip.MustParseAddrPort("[2001:db8::1]:1")},
	}}
	f.Add(r.encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeRouted(b)
		if err != nil {
			return
		}
		if len(got.cands) > maxCandidates {
			t.Fatalf("%d candidates", len(got.cands))
		}
		if re := got.encode(); !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x, from %x", re, b)
		}
	})
}

// punchMesh is a mesh (not started) whose only neighbour is b, through
// which the routes reach every peer in others; each peer announces the
// control port 6783, and b sees us at 203.0.113.10.
func punchMesh(t *testing.T, noPunch bool, b frame.PeerName, others ...frame.PeerName) (*Mesh, *connection) {
	t.Helper()
	const self = frame.PeerName(0x020000000001)
	tr := memory.NewNetwork().NewTransport(self, netip.MustParseAddrPort("127.0.0.1:1"))
	m, err := New(Config{
		Self: self, Listen: netip.MustParseAddrPort("127.0.0.1:6783"), NoPunch: noPunch,
		Router: newFakeRouter(), Links: []Link{sleeveLink(tr, false)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	m.recompute = time.NewTimer(time.Hour)
	t.Cleanup(func() { m.recompute.Stop() })
	c := &connection{
		quit: make(chan struct{}), done: make(chan struct{}),
		link: m.cfg.Links[0], addr: "198.51.100.2:6783",
	}
	c.hello.Name = b
	m.conns[b] = c
	caps := map[string]string{CapControlPort: "6783"}
	if err := m.topo.SetSelf([]topology.Conn{{Peer: b, Addr: c.addr, Outbound: true, Established: true}}, nil); err != nil {
		t.Fatal(err)
	}
	bConns := []topology.Conn{{Peer: self, Addr: "203.0.113.10:40000", Established: true}}
	var es []topology.Entry
	for i, o := range others {
		bConns = append(bConns, topology.Conn{Peer: o, Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{203, 0, 113, byte(20 + i)}), 40000).String(), Established: true})
		es = append(es, topology.Entry{Name: o, UID: uint64(i + 10), Incarnation: 1, Version: 1, Caps: caps,
			Conns: []topology.Conn{{Peer: b, Addr: "198.51.100.2:6783", Outbound: true, Established: true}}})
	}
	es = append(es, topology.Entry{Name: b, UID: 1, Incarnation: 1, Version: 1, Caps: caps, Conns: bConns})
	m.topo.Merge(es)
	m.applyRoutes()
	return m, c
}

// sent drains the messages queued on c.
func sent(c *connection) []outMsg {
	out := c.sendq.take(nil)
	for _, msg := range out {
		c.sendq.written(len(msg.payload))
	}
	return out
}

// TestPunchCall: a peer reached only through a neighbour is called
// through it, once until answered or timed out, with our candidates
// (the address the neighbour sees us at, with our punching port); with
// NoPunch nobody is called.
func TestPunchCall(t *testing.T) {
	const b, c = frame.PeerName(0x020000000002), frame.PeerName(0x020000000003)
	for _, noPunch := range []bool{false, true} {
		m, nb := punchMesh(t, noPunch, b, c)
		m.punchDue()
		m.punchDue()
		msgs := sent(nb)
		var calls []routed
		for _, msg := range msgs {
			if msg.typ != msgRouted {
				continue
			}
			r, err := decodeRouted(msg.payload)
			if err != nil {
				t.Fatal(err)
			}
			calls = append(calls, r)
		}
		if want := canPunch && !noPunch; !want {
			if len(calls) != 0 {
				t.Errorf("NoPunch: %d calls sent", len(calls))
			}
			continue
		}
		if len(calls) != 1 {
			t.Fatalf("%d calls sent, want 1", len(calls))
		}
		r := calls[0]
		if r.dst != c || r.src != m.cfg.Self || r.kind != routedCall || r.ttl != routedTTL || r.id != m.punches[c].callID {
			t.Errorf("call %+v", r)
		}
		// The listen address is loopback: not a candidate. The address
		// b sees us at is, with the port the punch goes from.
		want := []candidate{{addr: netip.AddrPortFrom(netip.MustParseAddr("203.0.113.10"), m.punches[c].port)}}
		if len(r.cands) != len(want) || r.cands[0] != want[0] {
			t.Errorf("candidates %v, want %v", r.cands, want)
		}
	}
}

// TestPunchCallsBounded: however many peers are reached only through
// others, at most maxPunching calls wait for an answer at once.
func TestPunchCallsBounded(t *testing.T) {
	if !canPunch {
		t.Skip("no punching on this platform")
	}
	var others []frame.PeerName
	for i := range 3 * maxPunching {
		others = append(others, frame.PeerName(0x030000000000+i))
	}
	m, nb := punchMesh(t, false, 0x020000000002, others...)
	m.punchDue()
	m.punchDue()
	n := 0
	for _, msg := range sent(nb) {
		if msg.typ == msgRouted {
			n++
		}
	}
	if n != maxPunching {
		t.Errorf("%d calls, want %d", n, maxPunching)
	}
}

// TestHandleCall: a call is answered through the relay with the call's
// id and our candidates, and starts a punch; an answer that matches no
// call of ours starts nothing; a routed message for another peer is
// forwarded with one hop less, and dropped when its hops run out.
func TestHandleCall(t *testing.T) {
	if !canPunch {
		t.Skip("no punching on this platform")
	}
	const b, c, d = frame.PeerName(0x020000000002), frame.PeerName(0x020000000003), frame.PeerName(0x020000000004)
	m, nb := punchMesh(t, false, b, c, d)
	sent(nb) // our own calls to c and d
	call := routed{dst: m.cfg.Self, src: c, ttl: 3, kind: routedCall, id: 42,
		cands: []candidate{{addr: netip.MustParseAddrPort("192.0.2.1:6783"), local: true}}}
	m.handleRouted(b, call.encode())
	msgs := sent(nb)
	if len(msgs) != 1 || msgs[0].typ != msgRouted {
		t.Fatalf("sent %v, want one answer", msgs)
	}
	a, err := decodeRouted(msgs[0].payload)
	if err != nil || a.kind != routedAnswer || a.id != 42 || a.dst != c || a.src != m.cfg.Self || len(a.cands) == 0 {
		t.Fatalf("answer %+v, %v", a, err)
	}
	if p := m.punches[c]; p == nil || !p.punching {
		t.Error("a call started no punch")
	}
	stray := routed{dst: m.cfg.Self, src: d, ttl: 3, kind: routedAnswer, id: 7}
	m.handleRouted(b, stray.encode())
	if p := m.punches[d]; p != nil && p.punching {
		t.Error("an answer to no call started a punch")
	}
	if msgs := sent(nb); len(msgs) != 0 {
		t.Errorf("an answer to no call was answered: %v", msgs)
	}

	// Forwarding: b's role, seen from here for a message to d (reached
	// through b): it goes on with a hop less, unless it came from b.
	fwd := routed{dst: d, src: c, ttl: 2, kind: routedCall, id: 1}
	m.handleRouted(c, fwd.encode())
	msgs = sent(nb)
	if len(msgs) != 1 {
		t.Fatalf("forwarded %d messages, want 1", len(msgs))
	}
	if r, err := decodeRouted(msgs[0].payload); err != nil || r.ttl != 1 || r.dst != d {
		t.Errorf("forwarded %+v, %v", r, err)
	}
	fwd.ttl = 1
	m.handleRouted(c, fwd.encode())
	back := routed{dst: d, src: c, ttl: 5, kind: routedCall}
	m.handleRouted(b, back.encode())
	if msgs := sent(nb); len(msgs) != 0 {
		t.Errorf("forwarded %d messages out of hops or back to where they came from", len(msgs))
	}
}

// TestPunchBackoffOutlivesTopology: a call unanswered in time is counted
// and backs the next one off; a peer gone from the topology keeps that
// state until its backoff is over, so coming back does not reset it.
func TestPunchBackoffOutlivesTopology(t *testing.T) {
	if !canPunch {
		t.Skip("no punching on this platform")
	}
	const b, c = frame.PeerName(0x020000000002), frame.PeerName(0x020000000003)
	m, nb := punchMesh(t, false, b, c)
	now := time.Now() // after punchMesh's routes called c
	m.cfg.Now = func() time.Time { return now }
	// The test plays the actor: the status is published here.
	status := func() Status { m.publishStatus(); return m.status.snap }
	m.punchDue()
	if s := status(); s.Punching != 1 {
		t.Fatalf("punching %d after the call, want 1", s.Punching)
	}
	sent(nb)
	now = now.Add(callTimeout)
	m.punchDue()
	p := m.punches[c]
	if p == nil || !p.calling.IsZero() || p.fails != 1 || !p.nextCall.After(now) {
		t.Fatalf("after the call timed out: %+v, want one failure and a backoff", p)
	}
	s := status()
	if s.Punching != 0 || s.Punches["unanswered"] != 1 || len(s.Punches) != len(PunchResults) {
		t.Errorf("status punching %d, punches %v; want 0 and one unanswered", s.Punching, s.Punches)
	}
	if !m.topo.Forget(c) {
		t.Fatal("c not in the topology")
	}
	m.punchDue()
	if m.punches[c] != p {
		t.Fatal("a peer gone from the topology lost its backoff at once")
	}
	now = p.nextCall
	m.punchDue()
	if m.punches[c] != nil {
		t.Error("a peer gone from the topology kept its state after its backoff")
	}
	if msgs := sent(nb); len(msgs) != 0 {
		t.Errorf("%d messages sent for a peer gone from the topology", len(msgs))
	}
}

// TestLinkJudgedByUnansweredPings: a link is up once a ping was answered
// however long ago (an idle link is pinged seldom), and down once a ping
// has gone unanswered for LinkTimeout.
func TestLinkJudgedByUnansweredPings(t *testing.T) {
	const b = frame.PeerName(0x020000000002)
	m, _ := punchMesh(t, true, b)
	rt := m.cfg.Router.(*fakeRouter)
	now := time.Now()
	m.cfg.Now = func() time.Time { return now }
	c := m.conns[b]
	for _, step := range []struct {
		what string
		h    link.Health
		up   bool
	}{
		{"never answered", link.Health{Unanswered: now.Add(-time.Second)}, false},
		{"answered 30 s ago, nothing unanswered since", link.Health{LastPong: now.Add(-30 * time.Second)}, true},
		{"a ping unanswered for 4 s", link.Health{LastPong: now.Add(-30 * time.Second), Unanswered: now.Add(-4 * time.Second)}, true},
		{"a ping unanswered for the link timeout", link.Health{LastPong: now.Add(-30 * time.Second), Unanswered: now.Add(-m.cfg.LinkTimeout - time.Millisecond)}, false},
		{"answered again", link.Health{LastPong: now}, true},
	} {
		rt.mu.Lock()
		rt.health = map[frame.PeerName]link.Health{b: step.h}
		rt.mu.Unlock()
		m.checkLinks()
		if c.established != step.up {
			t.Errorf("%s: established %v, want %v", step.what, c.established, step.up)
		}
	}
}

// A failed punch doubles the next call's backoff from callBackoff up to
// callMaxBackoff, and only up to punchedMaxBackoff for a peer a punch
// connected before.
func TestPunchBackoff(t *testing.T) {
	for _, tc := range []struct {
		fails       int
		punchedOnce bool
		want        time.Duration
	}{
		{1, false, 2 * time.Second},
		{2, false, 4 * time.Second},
		{5, false, 32 * time.Second},
		{8, false, 256 * time.Second},
		{9, false, callMaxBackoff},
		{40, false, callMaxBackoff},
		{1, true, 2 * time.Second},
		{4, true, 16 * time.Second},
		{5, true, punchedMaxBackoff},
		{40, true, punchedMaxBackoff},
	} {
		p := punchPeer{fails: tc.fails, punchedOnce: tc.punchedOnce}
		if got := p.backoff(); got != tc.want {
			t.Errorf("%d failures, punched before %v: backoff %v, want %v", tc.fails, tc.punchedOnce, got, tc.want)
		}
	}
}
