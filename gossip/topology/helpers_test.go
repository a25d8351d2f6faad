package topology

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func pn(i int) frame.PeerName { return frame.PeerName(i) }

// est is an established connection to peer p.
func est(p int) Conn {
	return Conn{Peer: pn(p), Addr: fmt.Sprintf("10.0.%d.%d:6783", p/256, p%256), Established: true}
}

// pend is a connection to p whose data path is not established.
func pend(p int) Conn { c := est(p); c.Established = false; return c }

func ent(name int, inc, ver uint64, conns ...Conn) Entry {
	sortConns(conns)
	return Entry{Name: pn(name), Nickname: fmt.Sprintf("host%d", name), UID: uint64(name)<<32 | inc, Incarnation: inc, Version: ver, Conns: conns}
}

// graph returns entries 1..n with every edge established on both sides.
func graph(n int, edges [][2]int) []Entry {
	conns := make([][]Conn, n+1)
	for _, e := range edges {
		conns[e[0]] = append(conns[e[0]], est(e[1]))
		conns[e[1]] = append(conns[e[1]], est(e[0]))
	}
	es := make([]Entry, 0, n)
	for i := 1; i <= n; i++ {
		es = append(es, ent(i, 1, 1, conns[i]...))
	}
	return es
}

func newTopo(t testing.TB, self Entry, cfg *Config) *Topology {
	t.Helper()
	tp, err := New(self, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func names(es []Entry) []frame.PeerName {
	if len(es) == 0 {
		return nil
	}
	out := make([]frame.PeerName, len(es))
	for i, e := range es {
		out[i] = e.Name
	}
	return out
}

func pns(is ...int) []frame.PeerName {
	if len(is) == 0 {
		return nil
	}
	out := make([]frame.PeerName, len(is))
	for i, x := range is {
		out[i] = pn(x)
	}
	return out
}

// flood simulates a broadcast from src with every peer forwarding along
// its own routes; it returns how many times each peer received it (src
// counts its own origination once).
func flood(src frame.PeerName, routes map[frame.PeerName]*Routes) map[frame.PeerName]int {
	got := map[frame.PeerName]int{src: 1}
	queue := []frame.PeerName{src}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, q := range routes[p].BroadcastNext(src) {
			got[q]++
			if got[q] == 1 {
				queue = append(queue, q)
			}
		}
	}
	return got
}

func pnOf(v uint64) frame.PeerName { return frame.PeerName(v) }

// checkInvariants verifies the Topology's internal consistency; the
// differential test runs it after every operation.
func checkInvariants(t testing.TB, tp *Topology) {
	t.Helper()
	if tp.ents[selfSlot].Name != tp.self || tp.slot[tp.self] != selfSlot {
		t.Fatal("self not in slot 0")
	}
	free := map[int32]bool{}
	for _, s := range tp.free {
		if free[s] || tp.ents[s].Name != 0 {
			t.Fatalf("free slot %d duplicated or in use", s)
		}
		free[s] = true
	}
	var sum uint64
	live := 0
	for s, e := range tp.ents {
		if e.Name == 0 {
			if !free[int32(s)] {
				t.Fatalf("slot %d leaked", s)
			}
			continue
		}
		live++
		sum += itemHash(e.Name, e.stamp())
		if tp.slot[e.Name] != int32(s) {
			t.Fatalf("slot map wrong for %v", e.Name)
		}
		if _, dead := tp.tombs[e.Name]; dead {
			t.Fatalf("live peer %v has a tombstone", e.Name)
		}
	}
	if live != len(tp.slot) || sum != tp.sum {
		t.Fatalf("live %d vs %d slots, summary drifted", live, len(tp.slot))
	}
	if tp.order != nil && (len(tp.order) != live || !slices.IsSortedFunc(tp.order, func(a, b int32) int { return cmp.Compare(tp.ents[a].Name, tp.ents[b].Name) })) {
		t.Fatal("cached order stale")
	}
	for nb, n := range tp.nbrs {
		inQueue := map[int32]bool{}
		for _, s := range n.queue {
			if inQueue[s] || n.has[s]&queuedBit == 0 {
				t.Fatalf("neighbour %v: queue and flags disagree at slot %d", nb, s)
			}
			inQueue[s] = true
		}
		for s, e := range tp.ents {
			queued := s < len(n.has) && n.has[s]&queuedBit != 0
			if queued != inQueue[int32(s)] {
				t.Fatalf("neighbour %v: slot %d flagged but not queued", nb, s)
			}
			if e.Name != 0 && !n.covers(int32(s)) && !queued {
				t.Fatalf("neighbour %v lacks %v but it is not queued", nb, e)
			}
		}
	}
}
