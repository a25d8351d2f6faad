package ethswitch

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// TestConcurrent runs FromLocal, several FromPeer readers, Expire,
// ForgetPeer, Lookup, Stats and Entries in parallel on a small table, so
// that learning, moves, echoes, evictions and removals interleave. Run it
// with -race; it also checks the table's invariants and bound afterwards.
func TestConcurrent(t *testing.T) {
	checkNoGoroutineLeak(t)
	const (
		maxEntries = 64
		universe   = 200
		iterations = 300
	)
	s, clk := newTestSwitch(t, maxEntries)
	mac := func(r *rand.Rand) frame.MAC {
		if r.IntN(10) == 0 {
			return frame.Broadcast
		}
		n := r.IntN(universe)
		return frame.MAC{2, 0, 0, 0, byte(n >> 8), byte(n)}
	}
	var wg sync.WaitGroup
	reader := func(seed uint64, fromPeer bool) {
		defer wg.Done()
		r := rand.New(rand.NewPCG(seed, 7))
		b := frame.NewBatch(32, 16)
		out := make([]Decision, 32)
		for range iterations {
			b.N = 1 + r.IntN(32)
			for i := range b.N {
				setFrame(b, i, mac(r), mac(r), 60)
				b.Meta[i] = frame.Meta{Src: remotePeers[r.IntN(len(remotePeers))]}
			}
			if fromPeer {
				s.FromPeer(b, out)
			} else {
				s.FromLocal(b, out)
			}
			for i := range b.N {
				if out[i].Action > LocalAndFlood || (out[i].Action == Peer) != (out[i].Peer != frame.UnknownPeer) {
					t.Errorf("bad decision %+v", out[i])
					return
				}
			}
		}
	}
	wg.Add(4)
	go reader(1, false)
	go reader(2, true)
	go reader(3, true)
	go reader(4, true)

	wg.Add(2)
	go func() { // the aging timer
		defer wg.Done()
		for range iterations {
			clk.Advance(300 * time.Millisecond)
			s.Expire()
		}
	}()
	go func() { // the control plane
		defer wg.Done()
		r := rand.New(rand.NewPCG(5, 7))
		for i := range iterations {
			switch i % 4 {
			case 0:
				s.ForgetPeer(remotePeers[r.IntN(len(remotePeers))])
			case 1:
				s.Lookup(mac(r))
			case 2:
				if st := s.Stats(); st.Entries > maxEntries {
					t.Errorf("%d entries > %d", st.Entries, maxEntries)
				}
			case 3:
				if n := len(s.Entries()); n > maxEntries {
					t.Errorf("%d entries > %d", n, maxEntries)
				}
			}
		}
	}()
	wg.Wait()
	checkInvariants(t, s)
	st := s.Stats()
	if st.Entries != len(s.Entries()) {
		t.Errorf("Stats.Entries %d, Entries() %d", st.Entries, len(s.Entries()))
	}
	t.Logf("%+v", st)
}
