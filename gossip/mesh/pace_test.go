package mesh

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
	"github.com/weave-switch/weave-switch/gossip/topology"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// TestSlowGossipPace: a busy connection gets a summary and a ping on every
// slow tick and the channels every channelRefresh ticks; a quiet one
// whose peer does not announce CapQuiet a summary every 6 s, a ping and
// the channels every 30 s; a quiet one whose peer does, a summary every
// 30 s, a ping and the channels every 60 s; a change of our topology
// makes every connection busy again for busyFor.
func TestSlowGossipPace(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	tr := memory.NewNetwork().NewTransport(1, netip.MustParseAddrPort("127.0.0.1:1"))
	m, err := New(Config{
		Self: 1, Listen: netip.MustParseAddrPort("127.0.0.1:0"), Router: newFakeRouter(),
		Links: []Link{sleeveLink(tr, false)}, MTU: 1426,
		Channels: map[uint8]Channel{7: newMaxChannel(5)},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	conn := func(name frame.PeerName, established bool, caps map[string]string) *connection {
		c := &connection{hello: handshake.Hello{Name: name, Caps: caps}, since: clock, established: established,
			quit: make(chan struct{})}
		c.pace, c.silence = paceFor(caps)
		m.conns[name] = c
		return c
	}
	quiet, pending := conn(2, true, nil), conn(3, false, nil)
	long := conn(4, true, map[string]string{CapQuiet: "75"})
	if quiet.silence != controlTimeout || long.silence != quietTimeout {
		t.Fatalf("silences %v and %v, want %v and %v", quiet.silence, long.silence, controlTimeout, quietTimeout)
	}
	// drain returns the types queued on c since the last call.
	drain := func(c *connection) []uint8 {
		var out []uint8
		for _, msg := range c.sendq.take(nil) {
			c.sendq.written(len(msg.payload))
			out = append(out, msg.typ)
		}
		return out
	}
	type count struct{ summaries, pings, channels int }
	var l count // the long-paced connection's, since the last reset
	run := func(ticks int) (q, p count) {
		for range ticks {
			clock = clock.Add(GossipInterval)
			m.slowGossip()
			for c, n := range map[*connection]*count{quiet: &q, pending: &p, long: &l} {
				for _, typ := range drain(c) {
					switch typ {
					case msgSummary:
						n.summaries++
					case msgPing:
						n.pings++
					case msgChannel:
						n.channels++
					}
				}
			}
		}
		return q, p
	}
	// The first busyFor: both connections are young.
	q, p := run(3)
	if q != (count{3, 3, 0}) || p != (count{3, 3, 0}) || l != (count{3, 3, 0}) {
		t.Fatalf("young connections: %+v, %+v and %+v, want a summary and a ping per tick", q, p, l)
	}
	l = count{}
	q, p = run(30)
	if want := (count{10, 2, 2}); q != want {
		t.Fatalf("quiet connection over 30 ticks: %+v, want %+v", q, want)
	}
	if want := (count{2, 1, 1}); l != want {
		t.Fatalf("quiet connection to a peer announcing %s, over 30 ticks: %+v, want %+v", CapQuiet, l, want)
	}
	if want := (count{30, 30, 6}); p != want {
		t.Fatalf("link not answering, 30 ticks: %+v, want %+v", p, want)
	}
	// Our topology changes: busy again for busyFor, then quiet.
	if err := m.topo.SetSelf([]topology.Conn{{Peer: 2, Established: true}}, nil); err != nil {
		t.Fatal(err)
	}
	var got []int
	for range 6 {
		q, _ := run(1)
		got = append(got, q.summaries)
	}
	if want := []int{1, 1, 1, 0, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("after a change, summaries per tick %v, want %v", got, want)
	}
	// A differing summary from the peer makes it busy at once.
	quiet.summaryDiffered = true
	if q, _ := run(2); q.summaries != 2 {
		t.Fatalf("differing summaries: %d summaries in 2 ticks, want 2", q.summaries)
	}
}

// TestGossipBudget: deltas wait gossipDelay while what was sent is
// small; after a round bigger than gossipRate allows, until it is paid
// for, never more than maxGossipDebt; and a differing summary gets no
// digest while more than a slow tick's worth is owed.
func TestGossipBudget(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	tr := memory.NewNetwork().NewTransport(1, netip.MustParseAddrPort("127.0.0.1:1"))
	m, err := New(Config{
		Self: 1, Listen: netip.MustParseAddrPort("127.0.0.1:0"), Router: newFakeRouter(),
		Links: []Link{sleeveLink(tr, false)}, MTU: 1426,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	// A hundred neighbours sent 1.5 KB each.
	m.spend(clock, 100*1500)
	if w := m.gossipWait(clock); w != gossipDelay || m.owes(clock) {
		t.Fatalf("after 150 KB: wait %v, owes %v; want %v, false", w, m.owes(clock), gossipDelay)
	}
	// A hub's 15 KB entry to a thousand neighbours.
	clock = clock.Add(time.Second)
	m.spend(clock, 1000*15000)
	want := time.Duration(1000*15000) * time.Second / gossipRate
	if w := m.gossipWait(clock); w != want || !m.owes(clock) {
		t.Fatalf("after 15 MB: wait %v, owes %v; want %v, true", w, m.owes(clock), want)
	}
	// More is owed than maxGossipDebt: the wait is that.
	m.spend(clock, 100<<20)
	if w := m.gossipWait(clock); w != maxGossipDebt {
		t.Fatalf("after 100 MB more: wait %v, want %v", w, maxGossipDebt)
	}
	// A differing summary, twice: no digest while owing; one once paid.
	c := &connection{hello: handshake.Hello{Name: 2}, since: clock, established: true, quit: make(chan struct{})}
	m.conns[2] = c
	m.topo.AddNeighbor(2)
	digests := func() int {
		n := 0
		for _, msg := range c.sendq.take(nil) {
			c.sendq.written(len(msg.payload))
			if msg.typ == msgDigest {
				n++
			}
		}
		return n
	}
	other := []byte{0, 0, 0, 0, 0, 0, 0, 1}
	if other[7] == byte(m.topo.Summary()) {
		other[7] = 2
	}
	m.handle(c, msgSummary, other)
	m.handle(c, msgSummary, other)
	if n := digests(); n != 0 {
		t.Fatalf("%d digests sent while owing %v", n, m.gossipFree.Sub(clock))
	}
	clock = clock.Add(maxGossipDebt)
	m.handle(c, msgSummary, other)
	if n := digests(); n != 1 {
		t.Fatalf("%d digests sent once paid for, want 1", n)
	}
	if !m.gossipFree.After(clock) {
		t.Fatal("the digest was not counted")
	}
}

// TestChannelSums: anti-entropy sends a neighbour that compares sums the
// sums of the channels' states, not the states; a differing sum is
// answered with an ask, and the ask with the state, at most once a slow
// tick; an older neighbour still gets the states. Two routers whose
// states differ both ways agree after each one's refresh.
func TestChannelSums(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	newMesh := func(self frame.PeerName, ch *maxChannel) *Mesh {
		tr := memory.NewNetwork().NewTransport(self, netip.MustParseAddrPort("127.0.0.1:1"))
		m, err := New(Config{
			Self: self, Listen: netip.MustParseAddrPort("127.0.0.1:0"), Router: newFakeRouter(),
			Links: []Link{sleeveLink(tr, false)}, MTU: 1426,
			Channels: map[uint8]Channel{7: ch, 9: newMaxChannel(0)},
			Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return clock },
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	chA, chB := newMaxChannel(5), newMaxChannel(3)
	a, b := newMesh(1, chA), newMesh(2, chB)
	sums := map[string]string{CapChannelSums: "1"}
	// Links not answering yet: busy connections, refreshed every
	// channelRefresh ticks.
	ab := &connection{hello: handshake.Hello{Name: 2, Caps: sums}, since: clock, quit: make(chan struct{})}
	ba := &connection{hello: handshake.Hello{Name: 1, Caps: sums}, since: clock, quit: make(chan struct{})}
	old := &connection{hello: handshake.Hello{Name: 3}, since: clock, quit: make(chan struct{})}
	a.conns[2], a.conns[3], b.conns[1] = ab, old, ba
	take := func(c *connection) []outMsg {
		msgs := c.sendq.take(nil)
		for _, msg := range msgs {
			c.sendq.written(len(msg.payload))
		}
		return msgs
	}
	types := func(msgs []outMsg) []uint8 {
		var out []uint8
		for _, msg := range msgs {
			out = append(out, msg.typ)
		}
		return out
	}
	// deliver hands what from queued on c to to, as from's connection
	// there, and returns the types.
	deliver := func(c *connection, to *Mesh, from *connection) []uint8 {
		msgs := take(c)
		for _, msg := range msgs {
			to.handle(from, msg.typ, msg.payload)
		}
		return types(msgs)
	}
	// a's refresh: channelRefresh ticks.
	for range channelRefresh {
		clock = clock.Add(GossipInterval)
		a.slowGossip()
	}
	msgs := take(ab)
	var got []byte
	for _, msg := range msgs {
		if msg.typ == msgChannel {
			t.Fatal("a sent a whole state to a neighbour that compares sums")
		}
		if msg.typ == msgChannelSums {
			got = msg.payload
		}
	}
	want := binary.BigEndian.AppendUint64([]byte{7}, sumState(binary.BigEndian.AppendUint64(nil, 5)))
	if !bytes.Equal(got, want) {
		t.Fatalf("a's sums %x, want %x (channel 9 has no state)", got, want)
	}
	if ts := types(take(old)); !slices.Contains(ts, msgChannel) || slices.Contains(ts, msgChannelSums) {
		t.Fatalf("an older neighbour got %v, want a whole state and no sums", ts)
	}
	// b's state differs: it asks, a answers with its state, b merges.
	b.handle(ba, msgChannelSums, got)
	if ts := deliver(ba, a, ab); !slices.Equal(ts, []uint8{msgChannelWant}) {
		t.Fatalf("b answered differing sums with %v, want an ask", ts)
	}
	if ts := deliver(ab, b, ba); !slices.Equal(ts, []uint8{msgChannel}) || chB.get() != 5 {
		t.Fatalf("a answered the ask with %v; b holds %d, want a state and 5", ts, chB.get())
	}
	// Asked again within a slow tick: nothing; a tick later: the state.
	a.handle(ab, msgChannelWant, []byte{7, 9, 200})
	if ts := types(take(ab)); len(ts) != 0 {
		t.Fatalf("a second ask within a tick got %v", ts)
	}
	clock = clock.Add(GossipInterval)
	a.handle(ab, msgChannelWant, []byte{7})
	if ts := types(take(ab)); !slices.Equal(ts, []uint8{msgChannel}) {
		t.Fatalf("an ask a tick later got %v, want the state", ts)
	}
	// Equal sums: no ask.
	clear(b.chanSums)
	b.handle(ba, msgChannelSums, got)
	if ts := types(take(ba)); len(ts) != 0 {
		t.Fatalf("equal sums answered with %v", ts)
	}
	// b moves ahead without a's hearing of it (its flood lost): b's own
	// refresh brings a there.
	chB.set(8)
	clear(b.chanSums)
	b.refreshChannels(ba)
	deliver(ba, a, ab)
	deliver(ab, b, ba)
	if ts := deliver(ba, a, ab); !slices.Equal(ts, []uint8{msgChannel}) || chA.get() != 8 {
		t.Fatalf("after b's refresh: b sent %v, a holds %d; want a state and 8", ts, chA.get())
	}
}

// TestPaceFor: the quiet pace and the silence allowed follow what the
// peer announces.
func TestPaceFor(t *testing.T) {
	for _, tc := range []struct {
		caps    map[string]string
		pace    quietPace
		silence time.Duration
	}{
		{nil, shortPace, controlTimeout},
		{map[string]string{CapQuiet: "75"}, longPace, quietTimeout},
		{map[string]string{CapQuiet: "600"}, longPace, quietTimeout},
		{map[string]string{CapQuiet: "20"}, shortPace, quietTimeout},
		{map[string]string{CapQuiet: "x"}, shortPace, quietTimeout},
		{map[string]string{CapQuiet: "99999999"}, shortPace, quietTimeout},
	} {
		pace, silence := paceFor(tc.caps)
		if pace != tc.pace || silence != tc.silence {
			t.Errorf("%v: %+v and %v, want %+v and %v", tc.caps, pace, silence, tc.pace, tc.silence)
		}
	}
	if s := (&Mesh{}).caps()[CapQuiet]; s != "75" {
		t.Errorf("we announce %s=%q, want 75", CapQuiet, s)
	}
}
