package mesh

import (
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
// slow tick and the channels every channelRefresh ticks; a quiet one a
// summary every quietTicks ticks, a ping with every quietPings-th and the
// channels every channelRefresh × quietTicks; a change of our topology
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
	conn := func(name frame.PeerName, established bool) *connection {
		c := &connection{hello: handshake.Hello{Name: name}, since: clock, established: established,
			quit: make(chan struct{})}
		m.conns[name] = c
		return c
	}
	quiet, pending := conn(2, true), conn(3, false)
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
	run := func(ticks int) (q, p count) {
		for range ticks {
			clock = clock.Add(GossipInterval)
			m.slowGossip()
			for c, n := range map[*connection]*count{quiet: &q, pending: &p} {
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
	if q != (count{3, 3, 0}) || p != (count{3, 3, 0}) {
		t.Fatalf("young connections: %+v and %+v, want a summary and a ping per tick", q, p)
	}
	q, p = run(30)
	if want := (count{10, 2, 2}); q != want {
		t.Fatalf("quiet connection over 30 ticks: %+v, want %+v", q, want)
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
