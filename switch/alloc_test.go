package ethswitch

import (
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// scenario fills a 128-frame batch for one forwarding case. next is called
// before every batch; it may rewrite the frames (new source MACs).
type scenario struct {
	name     string
	fromPeer bool
	setup    func(s *Switch, b *frame.Batch)
	next     func(b *frame.Batch)
}

const batchSize = 128

func localMAC(i int) frame.MAC  { return frame.MAC{0x02, 0x10, 0, 0, byte(i >> 8), byte(i)} }
func remoteMAC(i int) frame.MAC { return frame.MAC{0x02, 0x20, 0, 0, byte(i >> 8), byte(i)} }

var remotePeers = []frame.PeerName{peerB, peerC, peerD}

// learnPairs teaches n local and n remote MACs (remote i on
// remotePeers[i%3]) and marks them established.
func learnPairs(s *Switch, n int) {
	for range 2 {
		for i := range n {
			learnAt(s, localMAC(i), self)
			learnAt(s, remoteMAC(i), remotePeers[i%len(remotePeers)])
		}
	}
}

// scenarios are shared by the allocation test and the benchmarks. Frames
// are size bytes long; only their headers are read.
func scenarios(size int) []scenario {
	const pairs = 16
	var flood uint64
	floodNext := func(b *frame.Batch) {
		for i := range b.N {
			flood++
			m := floodMAC(flood)
			copy(b.Room(i)[6:12], m[:])
		}
	}
	return []scenario{
		{"local known unicast", false,
			func(s *Switch, b *frame.Batch) {
				learnPairs(s, pairs)
				for i := range b.N {
					setFrame(b, i, remoteMAC(i%pairs), localMAC(i%pairs), size)
				}
			}, nil},
		{"local broadcast", false,
			func(s *Switch, b *frame.Batch) {
				learnPairs(s, pairs)
				for i := range b.N {
					setFrame(b, i, frame.Broadcast, localMAC(i%pairs), size)
				}
			}, nil},
		{"local new MAC flood", false,
			func(s *Switch, b *frame.Batch) {
				for i := range b.N {
					setFrame(b, i, frame.Broadcast, floodMAC(0), size)
				}
			}, floodNext},
		{"peer known unicast", true,
			func(s *Switch, b *frame.Batch) {
				learnPairs(s, pairs)
				for i := range b.N {
					setFrame(b, i, localMAC(i%pairs), remoteMAC(i%pairs), size)
					b.Meta[i] = frame.Meta{Src: remotePeers[i%pairs%len(remotePeers)], Dst: self, Via: peerB}
				}
			}, nil},
		{"peer broadcast", true,
			func(s *Switch, b *frame.Batch) {
				learnPairs(s, pairs)
				for i := range b.N {
					setFrame(b, i, frame.Broadcast, remoteMAC(i%pairs), size)
					b.Meta[i] = frame.Meta{Src: remotePeers[i%pairs%len(remotePeers)], Via: peerB}
				}
			}, nil},
		{"peer new MAC flood", true,
			func(s *Switch, b *frame.Batch) {
				for i := range b.N {
					setFrame(b, i, frame.Broadcast, floodMAC(0), size)
					b.Meta[i] = frame.Meta{Src: peerB, Via: peerB}
				}
			}, floodNext},
	}
}

// run decides one batch for sc.
func (sc *scenario) run(s *Switch, b *frame.Batch, out []Decision) {
	if sc.next != nil {
		sc.next(b)
	}
	if sc.fromPeer {
		s.FromPeer(b, out)
	} else {
		s.FromLocal(b, out)
	}
}

// TestZeroAllocs pins zero allocations per batch on both paths: steady
// state, broadcast, and a flood of new source MACs that keeps the table
// full and evicting.
func TestZeroAllocs(t *testing.T) {
	for _, sc := range scenarios(64) {
		t.Run(sc.name, func(t *testing.T) {
			s, _ := newTestSwitch(t, 1024)
			b := frame.NewBatch(batchSize, 0)
			b.N = batchSize
			out := make([]Decision, batchSize)
			sc.setup(s, b)
			if n := testing.AllocsPerRun(100, func() { sc.run(s, b, out) }); n != 0 {
				t.Errorf("%v allocations per batch of %d, want 0", n, batchSize)
			}
			st := s.Stats()
			if sc.next != nil && st.Evictions == 0 {
				t.Errorf("flood did not evict: %+v", st)
			}
			if st.Drops() != 0 || (sc.next == nil && st.Moves != 0) {
				t.Errorf("unexpected drops or moves: %+v", st)
			}
			checkInvariants(t, s)
		})
	}
}
