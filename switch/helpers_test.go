package ethswitch

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Peers and MACs used across the tests.
const (
	self  frame.PeerName = 0x02_00_00_00_00_01
	peerB frame.PeerName = 0x02_00_00_00_00_02
	peerC frame.PeerName = 0x02_00_00_00_00_03
	peerD frame.PeerName = 0x02_00_00_00_00_04
)

var (
	macA     = frame.MAC{0x02, 0xaa, 0, 0, 0, 0x0a}
	macX     = frame.MAC{0x02, 0xaa, 0, 0, 0, 0x58}
	macY     = frame.MAC{0x02, 0xaa, 0, 0, 0, 0x59}
	mcast    = frame.MAC{0x33, 0x33, 0, 0, 0, 0x01} // IPv6 all-nodes
	stpMAC   = frame.MAC{0x01, 0x80, 0xc2, 0, 0, 0x00}
	lldpMAC  = frame.MAC{0x01, 0x80, 0xc2, 0, 0, 0x0e}
	notLLMAC = frame.MAC{0x01, 0x80, 0xc2, 0, 0, 0x10}
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (c *fakeClock) Now() time.Time          { return epoch.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// newTestSwitch returns a switch with a fake clock and the given table
// size (0 for the default).
func newTestSwitch(t testing.TB, maxEntries int) (*Switch, *fakeClock) {
	t.Helper()
	clk := &fakeClock{}
	s, err := New(Config{
		Self:       self,
		MaxEntries: maxEntries,
		MaxAge:     10 * time.Second,
		EchoWindow: 2 * time.Second,
		Now:        clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

// setFrame writes an Ethernet header into frame i of b and sets its size.
func setFrame(b *frame.Batch, i int, dst, src frame.MAC, size int) {
	room := b.Room(i)
	copy(room[0:6], dst[:])
	copy(room[6:12], src[:])
	room[12], room[13] = 0x08, 0x00
	b.Sizes[i] = size
}

// one decides a single frame through a one-frame batch and returns the
// decision and the frame's Meta afterwards.
func one(s *Switch, fromPeer bool, dst, src frame.MAC, size int, m frame.Meta) (Decision, frame.Meta) {
	b := frame.NewBatch(1, 8)
	setFrame(b, 0, dst, src, size)
	b.Meta[0] = m
	b.N = 1
	out := make([]Decision, 1)
	if fromPeer {
		s.FromPeer(b, out)
	} else {
		s.FromLocal(b, out)
	}
	return out[0], b.Meta[0]
}

// learnAt makes owner own mac, by a frame captured locally (owner == Self)
// or received from owner.
func learnAt(s *Switch, mac frame.MAC, owner frame.PeerName) {
	if owner == s.Self() {
		one(s, false, frame.Broadcast, mac, 64, frame.Meta{})
	} else {
		one(s, true, frame.Broadcast, mac, 64, frame.Meta{Src: owner})
	}
}

// checkInvariants verifies the table's internal consistency.
func checkInvariants(t testing.TB, s *Switch) {
	t.Helper()
	s.fdb.RLock()
	defer s.fdb.RUnlock()
	tab := s.fdb.table
	inUse := 0
	for _, which := range []uint8{onProbation, onEstablished} {
		l := &tab.probation
		if which == onEstablished {
			l = &tab.established
		}
		n, prev := 0, nilPos
		for p := l.head; p != nilPos; p = tab.slab[p].next {
			e := &tab.slab[p]
			if e.list != which || e.prev != prev {
				t.Fatalf("slab[%d]: list %d prev %d, want list %d prev %d", p, e.list, e.prev, which, prev)
			}
			if got := tab.idx.find(e.key); got != p {
				t.Fatalf("index finds %v at %d, want %d", keyMAC(e.key), got, p)
			}
			prev = p
			n++
		}
		if n != l.n || l.tail != prev {
			t.Fatalf("list %d: walked %d entries ending at %d, header says %d ending at %d", which, n, prev, l.n, l.tail)
		}
		inUse += n
	}
	if inUse+len(tab.free) != len(tab.slab) {
		t.Fatalf("%d in use + %d free != %d slab", inUse, len(tab.free), len(tab.slab))
	}
	if inUse > s.max {
		t.Fatalf("table holds %d > MaxEntries %d", inUse, s.max)
	}
	slots := 0
	for _, sl := range tab.idx.slots {
		if sl.pos != 0 {
			slots++
			if tab.slab[sl.pos-1].key != sl.key || tab.slab[sl.pos-1].list == onFree {
				t.Fatalf("index slot for %v points at a wrong slab entry", keyMAC(sl.key))
			}
		}
	}
	if slots != inUse {
		t.Fatalf("index holds %d keys, lists %d", slots, inUse)
	}
}

// checkNoGoroutineLeak fails t if, shortly after the test, more
// goroutines run than before it.
func checkNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				t.Errorf("goroutine leak: %d running, %d before the test", runtime.NumGoroutine(), before)
				return
			}
			runtime.Gosched()
			time.Sleep(time.Millisecond)
		}
	})
}
