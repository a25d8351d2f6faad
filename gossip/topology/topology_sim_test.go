package topology

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// The simulation runs N Topologies in synchronous rounds over a random
// connected graph. In a round every peer sends each neighbour only
// PendingFor (deltas, encoded with AppendEntry and decoded with
// DecodeEntries); every DigestEvery rounds each peer also offers each
// neighbour its 8-byte Summary, and on a mismatch the neighbour answers
// with its full digest, from which the peer pushes Missing's theyNeed and
// resets its delta state with KnownBy. Summaries differ while a change is
// still spreading, so a link exchanges digests only when its summaries
// differed at the previous digest round too: deltas had their chance and
// something was lost. Received entries go through MergeEncoded. Every message is counted with a
// simFraming-byte header (tag + length), and may be dropped (Loss).

const simFraming = 5

type simConfig struct {
	N              int
	MinDeg, MaxDeg int
	Loss           float64
	DigestEvery    int // 0: never
	MaxRounds      int
	Seed           uint64
}

type simStats struct {
	Rounds  int
	Elapsed time.Duration
	Bytes   int64 // all peers
	MaxPeer int64 // the busiest peer
	Entries int64 // entries sent
}

func (s simStats) String() string {
	return fmt.Sprintf("%d rounds, %v, %d bytes (%d entries), %d bytes max per peer", s.Rounds, s.Elapsed.Round(time.Millisecond), s.Bytes, s.Entries, s.MaxPeer)
}

type simMsg struct {
	from, to int
	b        []byte
}

type sim struct {
	cfg   simConfig
	rng   *rand.Rand
	names []frame.PeerName
	idx   map[frame.PeerName]int
	adj   map[frame.PeerName][]frame.PeerName
	tps   []*Topology
	links int // undirected

	sent     []int64
	entries  int64
	msgs     []simMsg
	mismatch map[[2]int]bool // directed link → summaries differed last digest round
}

func newSim(t testing.TB, cfg simConfig) *sim {
	s := &sim{cfg: cfg, rng: newRand(cfg.Seed), idx: map[frame.PeerName]int{}, sent: make([]int64, cfg.N), mismatch: map[[2]int]bool{}}
	var es []Entry
	es, s.adj = randomGraph(s.rng, cfg.N, cfg.MinDeg, cfg.MaxDeg)
	for i, e := range es {
		s.names = append(s.names, e.Name)
		s.idx[e.Name] = i
		s.tps = append(s.tps, newTopo(t, e, nil))
		s.links += len(s.adj[e.Name])
	}
	s.links /= 2
	for i, tp := range s.tps {
		for _, nb := range s.adj[s.names[i]] {
			tp.AddNeighbor(nb)
		}
	}
	return s
}

func (s *sim) lost() bool { return s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss }

func (s *sim) send(from, to int, b []byte) {
	s.sent[from] += int64(len(b) + simFraming)
	if !s.lost() {
		s.msgs = append(s.msgs, simMsg{from, to, b})
	}
}

func (s *sim) sendEntries(from, to int, es []Entry) {
	if len(es) == 0 {
		return
	}
	b := make([]byte, 0, 256*len(es))
	for _, e := range es {
		b = AppendEntry(b, e)
	}
	s.entries += int64(len(es))
	s.tps[from].Sent(s.names[to], es)
	s.send(from, to, b)
}

func (s *sim) round(t testing.TB, r int) {
	for i, tp := range s.tps {
		for _, nb := range s.adj[s.names[i]] {
			s.sendEntries(i, s.idx[nb], tp.PendingFor(nb))
		}
	}
	if s.cfg.DigestEvery > 0 && r%s.cfg.DigestEvery == 0 {
		for i, tp := range s.tps {
			for _, nb := range s.adj[s.names[i]] {
				j := s.idx[nb]
				s.sent[i] += 8 + simFraming // our Summary, offered to j
				if s.lost() {
					continue
				}
				link := [2]int{i, j}
				if s.tps[j].Summary() == tp.Summary() || !s.mismatch[link] {
					s.mismatch[link] = s.tps[j].Summary() != tp.Summary()
					continue
				}
				s.mismatch[link] = false
				d := AppendDigest(nil, s.tps[j].Digest()) // j's answer
				s.sent[j] += int64(len(d) + simFraming)
				if s.lost() {
					continue
				}
				items, _, err := DecodeDigest(d)
				if err != nil {
					t.Fatal(err)
				}
				theyNeed, _ := tp.Missing(items)
				tp.KnownBy(nb, items)
				s.sendEntries(i, j, theyNeed)
			}
		}
	}
	for i, m := range s.msgs {
		if _, _, err := s.tps[m.to].MergeEncoded(s.names[m.from], m.b); err != nil {
			t.Fatal(err)
		}
		s.msgs[i].b = nil
	}
	s.msgs = s.msgs[:0]
}

// converged reports whether every peer has every peer's current entry.
func (s *sim) converged() bool {
	var want uint64
	for _, tp := range s.tps {
		want += itemHash(tp.Self(), tp.SelfEntry().stamp())
	}
	for _, tp := range s.tps {
		if tp.Len() != s.cfg.N || tp.Summary() != want {
			return false
		}
	}
	return true
}

// run gossips until convergence and returns what it cost.
func (s *sim) run(t testing.TB) simStats {
	clear(s.sent)
	s.entries = 0
	start := time.Now()
	r := 0
	for ; !s.converged(); r++ {
		if r >= s.cfg.MaxRounds {
			t.Fatalf("no convergence after %d rounds", r)
		}
		s.round(t, r+1)
	}
	st := simStats{Rounds: r, Elapsed: time.Since(start), Entries: s.entries}
	for _, n := range s.sent {
		st.Bytes += n
		st.MaxPeer = max(st.MaxPeer, n)
	}
	return st
}

// verify checks exact agreement: identical digests, and routes identical
// to those computed from the owners' own entries.
func (s *sim) verify(t testing.TB) {
	truth := make([]Entry, len(s.tps))
	for i, tp := range s.tps {
		truth[i] = tp.SelfEntry()
	}
	slices.SortFunc(truth, func(a, b Entry) int { return cmp.Compare(a.Name, b.Name) })
	want := s.tps[0].Digest()
	for i, tp := range s.tps {
		checkInvariants(t, tp)
		if !slices.Equal(tp.Digest(), want) {
			t.Fatalf("peer %v: digest differs", s.names[i])
		}
		if !tp.Routes().Equal(Compute(s.names[i], truth)) {
			t.Fatalf("peer %v: routes differ", s.names[i])
		}
	}
}

// change makes a peer connect to a random non-neighbour; both update
// their entries and, as on any new gossip connection, exchange digests so
// that only what the other lacks is sent (counted).
func (s *sim) change(t testing.TB) {
	a := s.rng.IntN(len(s.tps))
	b := s.rng.IntN(len(s.tps))
	for b == a || slices.Contains(s.adj[s.names[a]], s.names[b]) {
		b = s.rng.IntN(len(s.tps))
	}
	for _, p := range [][2]int{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		conns := append(slices.Clone(s.tps[x].SelfEntry().Conns), Conn{Peer: s.names[y], Addr: "192.0.2.1:6783", Established: true})
		if err := s.tps[x].SetSelf(conns, s.tps[x].SelfEntry().Caps); err != nil {
			t.Fatal(err)
		}
		s.adj[s.names[x]] = append(s.adj[s.names[x]], s.names[y])
		s.tps[x].AddNeighbor(s.names[y])
	}
	clear(s.sent)
	for _, p := range [][2]int{{a, b}, {b, a}} {
		x, y := p[0], p[1]
		d := s.tps[y].Digest()
		s.sent[y] += int64(len(AppendDigest(nil, d)) + simFraming)
		s.tps[x].KnownBy(s.names[y], d)
	}
	s.links++
}

func TestSimConverges(t *testing.T) {
	tests := []struct {
		name        string
		loss        float64
		digestEvery int
	}{
		{"lossless", 0, 10},
		{"loss 20% with anti-entropy", 0.2, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t, simConfig{N: 200, MinDeg: 4, MaxDeg: 8, Loss: tt.loss, DigestEvery: tt.digestEvery, MaxRounds: 300, Seed: 3})
			st := s.run(t)
			s.verify(t)
			t.Logf("converged: %v over %d links", st, s.links)
			s.change(t)
			ch := s.run(t)
			s.verify(t)
			t.Logf("one change re-converged: %v", ch)
			// The two changed entries cross each direction of each link
			// at most once, unless lost (then anti-entropy resends).
			if limit := int64(2 * 2 * s.links); tt.loss == 0 && ch.Entries > limit {
				t.Errorf("a change cost %d entries, more than 2 entries × %d directed links", ch.Entries, 2*s.links)
			}
			if tt.loss == 0 && ch.Bytes*20 > st.Bytes {
				t.Errorf("a change cost %d bytes, initial sync %d: not O(changes)", ch.Bytes, st.Bytes)
			}
		})
	}
}

func BenchmarkGossipSim(b *testing.B) {
	for _, loss := range []float64{0, 0.1} {
		b.Run(fmt.Sprintf("N=1000/loss=%v", loss), func(b *testing.B) {
			var st, ch simStats
			for b.Loop() {
				s := newSim(b, simConfig{N: 1000, MinDeg: 4, MaxDeg: 8, Loss: loss, DigestEvery: 10, MaxRounds: 500, Seed: 1})
				st = s.run(b)
				s.verify(b)
				s.change(b)
				ch = s.run(b)
				s.verify(b)
				b.Logf("%d links; converged: %v; one change: %v", s.links, st, ch)
			}
			b.ReportMetric(float64(st.Rounds), "rounds")
			b.ReportMetric(float64(st.Elapsed.Milliseconds()), "ms-to-converge")
			b.ReportMetric(float64(st.Bytes)/1000, "bytes/peer")
			b.ReportMetric(float64(st.MaxPeer), "max-bytes/peer")
			b.ReportMetric(float64(ch.Bytes)/1000, "bytes/peer-change")
			b.ReportMetric(float64(ch.Rounds), "rounds-change")
		})
	}
}
