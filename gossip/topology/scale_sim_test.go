package topology

import (
	"fmt"
	"math/bits"
	"runtime"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// The sim in topology_sim_test.go runs one real Topology per peer, which
// holds every peer's entry: N² entries, 1,000 peers in about a gigabyte.
// For 10,000 peers (a hundred million entries) the model below runs the
// same delta rules on bitsets instead: each peer has a bit per entry it
// holds, and a bit per neighbour and entry the neighbour is known to hold
// (Sent, or received from it: MergeFrom's learn). In each synchronous
// round every peer sends each neighbour every entry it holds that the
// neighbour is not known to hold, in messages of at most
// simMaxMessage, each counted with simFraming bytes; an entry
// costs its real encoded size (AppendEntry of the peer's own entry).
// Every DigestEvery rounds each directed link also carries an 8-byte
// summary; without loss a digest is exchanged only if a link's summaries
// differ at two digest rounds in a row, which TestScaleModelMatchesSim
// checks never happens here. The model is checked against the real-code
// sim: same graph, same rounds, entries and bytes.
// simMaxMessage is the control connection's largest message (the mesh
// sends entries in messages of at most handshake.MaxMessageSize, 1 MiB;
// this package imports nothing of it).
const simMaxMessage = 1 << 20

type scaleModel struct {
	n, words int
	adj      [][]int32  // neighbours by index
	size     []int32    // encoded entry size, by origin
	has      [][]uint64 // [peer] bitset of entries held
	known    [][]uint64 // [peer*maxDeg+k] bitset: neighbour adj[peer][k] holds
	fresh    [][]uint64 // [peer] entries received last round (still to offer)
	maxDeg   int
	sent     []int64
	entries  int64
}

func newScaleModel(cfg simConfig) *scaleModel {
	rng := newRand(cfg.Seed)
	es, adjNames := randomGraph(rng, cfg.N, cfg.MinDeg, cfg.MaxDeg)
	m := &scaleModel{n: cfg.N, words: (cfg.N + 63) / 64, maxDeg: cfg.MaxDeg, sent: make([]int64, cfg.N)}
	idx := make(map[frame.PeerName]int32, cfg.N)
	for i, e := range es {
		idx[e.Name] = int32(i)
	}
	m.adj = make([][]int32, cfg.N)
	m.size = make([]int32, cfg.N)
	for i, e := range es {
		for _, nb := range adjNames[e.Name] {
			m.adj[i] = append(m.adj[i], idx[nb])
		}
		m.size[i] = int32(len(AppendEntry(nil, e)))
	}
	m.has = make([][]uint64, cfg.N)
	m.fresh = make([][]uint64, cfg.N)
	m.known = make([][]uint64, cfg.N*cfg.MaxDeg)
	for i := range cfg.N {
		m.has[i] = make([]uint64, m.words)
		m.fresh[i] = make([]uint64, m.words)
		m.has[i][i/64] |= 1 << (i % 64)
		m.fresh[i][i/64] |= 1 << (i % 64)
		for k := range m.adj[i] {
			m.known[i*cfg.MaxDeg+k] = make([]uint64, m.words)
		}
	}
	return m
}

// slotOf returns k such that m.adj[j][k] == i.
func (m *scaleModel) slotOf(j, i int32) int {
	for k, x := range m.adj[j] {
		if x == i {
			return k
		}
	}
	panic("not a neighbour")
}

// round runs one round; it returns whether anything was sent.
func (m *scaleModel) round() bool {
	type delivery struct{ to, from int32 }
	var (
		any   bool
		recv  []delivery
		batch [][]uint64
	)
	for i := range m.n {
		for k, j := range m.adj[i] {
			kn := m.known[i*m.maxDeg+k]
			out := make([]uint64, m.words)
			var bytes, count int64
			for w := range m.words {
				// PendingFor costs O(changes): what changed here since
				// the last round, and the neighbour lacks.
				d := m.fresh[i][w] &^ kn[w]
				out[w] = d
				for d != 0 {
					b := bits.TrailingZeros64(d)
					d &= d - 1
					bytes += int64(m.size[w*64+b])
					count++
				}
				kn[w] |= out[w] // Sent
			}
			if count == 0 {
				continue
			}
			any = true
			msgs := max((bytes+simMaxMessage-1)/simMaxMessage,
				(count+MaxEntriesPerMessage-1)/MaxEntriesPerMessage)
			m.sent[i] += bytes + msgs*simFraming
			m.entries += count
			recv = append(recv, delivery{j, int32(i)})
			batch = append(batch, out)
		}
	}
	next := make([][]uint64, m.n)
	for i := range next {
		next[i] = make([]uint64, m.words)
	}
	for x, dl := range recv {
		in := batch[x]
		kn := m.known[int(dl.to)*m.maxDeg+m.slotOf(dl.to, dl.from)]
		h := m.has[dl.to]
		for w := range m.words {
			kn[w] |= in[w]                  // the sender holds what it sent
			next[dl.to][w] |= in[w] &^ h[w] // new here: offer next round
		}
	}
	for i := range m.n {
		for w := range m.words {
			m.has[i][w] |= next[i][w]
		}
	}
	m.fresh = next
	return any
}

func (m *scaleModel) converged() bool {
	full := uint64(1)<<(m.n%64) - 1
	for i := range m.n {
		for w := range m.words {
			want := ^uint64(0)
			if w == m.words-1 && m.n%64 != 0 {
				want = full
			}
			if m.has[i][w] != want {
				return false
			}
		}
	}
	return true
}

// run gossips until every peer holds every entry, counting summaries
// every digestEvery rounds (8 bytes and framing per directed link).
func (m *scaleModel) run(digestEvery, maxRounds int) simStats {
	clear(m.sent)
	m.entries = 0
	start := time.Now()
	r := 0
	for ; !m.converged(); r++ {
		if r >= maxRounds {
			panic(fmt.Sprintf("no convergence after %d rounds", r))
		}
		m.round()
		if digestEvery > 0 && (r+1)%digestEvery == 0 {
			for i := range m.n {
				m.sent[i] += int64(len(m.adj[i])) * (8 + simFraming)
			}
		}
	}
	st := simStats{Rounds: r, Elapsed: time.Since(start), Entries: m.entries}
	for _, b := range m.sent {
		st.Bytes += b
		st.MaxPeer = max(st.MaxPeer, b)
	}
	return st
}

// change: peer a's entry gets a new version (it gained a link, say):
// every other peer must fetch it again, and what neighbours are known to
// hold of it is forgotten.
func (m *scaleModel) change(a int) {
	w, bit := a/64, uint64(1)<<(a%64)
	for i := range m.n {
		if i != a {
			m.has[i][w] &^= bit
		}
		clear(m.fresh[i])
		for k := range m.adj[i] {
			m.known[i*m.maxDeg+k][w] &^= bit
		}
	}
	m.fresh[a][w] |= bit
	m.size[a] += 40 // one more Conn, about
}

// TestScaleModelMatchesSim: the bitset model and the real-code sim agree
// on a 400-peer graph: rounds, entries sent and bytes (the sim without
// loss and, as the model, before its first digest round). They agree at
// 1,000 too (8 rounds, 668,349,949 bytes), which takes 14 s.
func TestScaleModelMatchesSim(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 400 real Topologies")
	}
	cfg := simConfig{N: 400, MinDeg: 4, MaxDeg: 8, DigestEvery: 10, MaxRounds: 100, Seed: 1}
	s := newSim(t, cfg)
	want := s.run(t)
	got := newScaleModel(cfg).run(cfg.DigestEvery, cfg.MaxRounds)
	t.Logf("sim: %v; model: %v", want, got)
	if got.Rounds != want.Rounds || got.Entries != want.Entries || got.Bytes != want.Bytes {
		t.Fatalf("model %v, sim %v", got, want)
	}
	if want.Rounds >= 2*cfg.DigestEvery {
		t.Fatalf("converged in %d rounds: digests may have been exchanged", want.Rounds)
	}
}

// BenchmarkGossipScale: cold convergence of 10,000 peers (degree 4 to 8)
// and one change, in the bitset model. Reported: rounds, bytes sent per
// peer (mean and the busiest), and per peer for the change.
func BenchmarkGossipScale(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var st, ch simStats
			for b.Loop() {
				m := newScaleModel(simConfig{N: n, MinDeg: 4, MaxDeg: 8, Seed: 1})
				st = m.run(10, 200)
				m.change(n / 2)
				ch = m.run(10, 200)
			}
			b.ReportMetric(float64(st.Rounds), "rounds")
			b.ReportMetric(float64(st.Bytes)/float64(n), "bytes/peer")
			b.ReportMetric(float64(st.MaxPeer), "max-bytes/peer")
			b.ReportMetric(float64(ch.Rounds), "rounds-change")
			b.ReportMetric(float64(ch.Bytes)/float64(n), "bytes/peer-change")
		})
	}
}

// BenchmarkRoutes10k: one router's route computation over a converged
// topology of 10,000 peers (degree 4 to 8), with the real code; the time
// to merge the whole state received cold, the encoded state, the heap
// the topology holds and the size of its digest (anti-entropy).
func BenchmarkRoutes10k(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			es, _ := randomGraph(newRand(1), n, 4, 8)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tp := newTopo(b, es[0], nil)
			msgs := EncodeEntries(es[1:], simMaxMessage)
			state := 0
			t0 := time.Now()
			for _, msg := range msgs {
				state += len(msg)
				if _, _, err := tp.MergeEncoded(es[1].Name, msg); err != nil {
					b.Fatal(err)
				}
			}
			merge := time.Since(t0)
			runtime.GC()
			runtime.ReadMemStats(&after)
			if tp.Len() != n {
				b.Fatalf("%d entries, want %d", tp.Len(), n)
			}
			b.ResetTimer()
			var rt *Routes
			for b.Loop() {
				rt = tp.Routes()
			}
			if !rt.Reachable(es[n-1].Name) {
				b.Fatal("unreachable peer")
			}
			b.ReportMetric(float64(state)/1e6, "MB-state")
			b.ReportMetric(float64(len(AppendDigest(nil, tp.Digest())))/1e6, "MB-digest")
			b.ReportMetric(float64(merge.Milliseconds()), "ms-merge-all")
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1e6, "MB-heap")
			runtime.KeepAlive(tp)
		})
	}
}
