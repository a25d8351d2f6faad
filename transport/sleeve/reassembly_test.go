package sleeve

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

var fragFrom = netip.MustParseAddrPort("192.0.2.1:6783")

// fakeClock is an injectable clock for reassembly timeouts.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestReassembler(slots int) (*reassembler, *fakeClock, *counters) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := &counters{}
	ra := newReassembler(slots, clk.now, c)
	ra.Tick()
	return ra, clk, c
}

// cut returns the fragments of fr, per bytes each (the last may be
// shorter), as a sender would make them.
func cut(fr []byte, per int, id uint32, meta frame.Meta) []Fragment {
	var fs []Fragment
	for off := 0; off < len(fr); off += per {
		fs = append(fs, Fragment{Meta: meta, ID: id, Offset: off, Total: len(fr), Data: fr[off:min(off+per, len(fr))]})
	}
	return fs
}

type completed struct {
	fr   []byte
	meta frame.Meta
}

// feed adds fragments in order and returns the frames they completed,
// copied, releasing their slots.
func feed(ra *reassembler, from netip.AddrPort, fs ...Fragment) []completed {
	var out []completed
	for i := range fs {
		if fr, meta, slot, ok := ra.add(from, &fs[i]); ok {
			out = append(out, completed{bytes.Clone(fr), meta})
			ra.Release(slot)
		}
	}
	return out
}

var superMeta = frame.Meta{Src: peerA, Dst: peerB, Via: peerA,
	GSO: frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 54, Size: 1386, CsumStart: 34, CsumOffset: 16}}

func TestReassemblyOrders(t *testing.T) {
	fr := testFrame(frame.MaxSuperFrameSize, 7)
	fs := cut(fr, 1430, 1, superMeta)
	n := len(fs)
	orders := []struct {
		name  string
		order []int
	}{
		{"in order", seq(n)},
		{"reversed", reversed(n)},
		{"last first", append([]int{n - 1}, seq(n-1)...)},
		{"interleaved", interleave(n)},
	}
	for _, tt := range orders {
		t.Run(tt.name, func(t *testing.T) {
			ra, _, c := newTestReassembler(4)
			var in []Fragment
			for _, i := range tt.order {
				in = append(in, fs[i])
			}
			// Only the last fragment completes the frame.
			if got := feed(ra, fragFrom, in[:n-1]...); len(got) != 0 {
				t.Fatalf("completed %d frames before the last fragment", len(got))
			}
			got := feed(ra, fragFrom, in[n-1])
			if len(got) != 1 || !bytes.Equal(got[0].fr, fr) || got[0].meta != superMeta {
				t.Fatalf("got %d frames, want the original", len(got))
			}
			if ra.Active() != 0 {
				t.Errorf("%d slots still active", ra.Active())
			}
			if s := c.snapshot(); s.FrameDrops != [NumFrameDrops]uint64{} {
				t.Errorf("drops %v", s.FrameDrops)
			}
		})
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func reversed(n int) []int {
	s := seq(n)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
	return s
}

func interleave(n int) []int {
	var s []int
	for i := 0; i < n; i += 2 {
		s = append(s, i)
	}
	for i := 1; i < n; i += 2 {
		s = append(s, i)
	}
	return s
}

func TestReassemblyDuplicateOverlap(t *testing.T) {
	ra, _, c := newTestReassembler(4)
	fr := testFrame(3000, 1)
	fs := cut(fr, 1000, 9, superMeta)
	// A duplicate is dropped and counted.
	if got := feed(ra, fragFrom, fs[0], fs[0]); len(got) != 0 {
		t.Fatal("completed early")
	}
	// A fragment overlapping bytes already there: dropped, counted.
	overlap := Fragment{Meta: superMeta, ID: 9, Offset: 500, Total: 3000, Data: fr[500:1500]}
	if got := feed(ra, fragFrom, overlap); len(got) != 0 {
		t.Fatal("completed early")
	}
	// A fragment lying inside one already there is a duplicate.
	inside := Fragment{Meta: superMeta, ID: 9, Offset: 10, Total: 3000, Data: fr[10:20]}
	feed(ra, fragFrom, inside)
	got := feed(ra, fragFrom, fs[1], fs[2])
	if len(got) != 1 || !bytes.Equal(got[0].fr, fr) {
		t.Fatalf("got %d frames", len(got))
	}
	s := c.snapshot()
	if s.FrameDrops[FrameDropDuplicate] != 2 || s.FrameDrops[FrameDropOverlap] != 1 {
		t.Errorf("drops %v, want 2 duplicates and 1 overlap", s.FrameDrops)
	}
	// A late duplicate of a completed frame starts a new reassembly, which
	// then times out: it never completes the frame a second time.
	if got := feed(ra, fragFrom, fs[0]); len(got) != 0 {
		t.Fatal("late duplicate completed a frame")
	}
}

func TestReassemblyTimeout(t *testing.T) {
	ra, clk, c := newTestReassembler(4)
	fr := testFrame(3000, 2)
	fs := cut(fr, 1000, 3, superMeta)
	feed(ra, fragFrom, fs[0])
	clk.advance(time.Second) // exactly 1 s: kept
	ra.Tick()
	feed(ra, fragFrom, fs[1]) // touches it again
	clk.advance(time.Second + time.Millisecond)
	ra.Tick()
	if ra.Active() != 0 || c.snapshot().FrameDrops[FrameDropTimeout] != 1 {
		t.Fatalf("after 1.001 s untouched: %d active, drops %v", ra.Active(), c.snapshot().FrameDrops)
	}
	// The missing fragment alone starts over and does not complete.
	if got := feed(ra, fragFrom, fs[2]); len(got) != 0 {
		t.Fatal("a timed-out frame completed")
	}
}

func TestReassemblyEviction(t *testing.T) {
	const slots = 4
	ra, clk, c := newTestReassembler(slots)
	frames := make([][]byte, slots+1)
	for id := range slots + 1 {
		frames[id] = testFrame(2000, byte(id))
		feed(ra, fragFrom, cut(frames[id], 1000, uint32(id), superMeta)[0])
		clk.advance(time.Millisecond)
		ra.Tick()
	}
	if n := c.snapshot().FrameDrops[FrameDropEvicted]; n != 1 || ra.Active() != slots {
		t.Fatalf("evicted %d, %d active; want 1, %d", n, ra.Active(), slots)
	}
	// Frame 0, the oldest, was evicted; 1 to 4 complete.
	for id := 1; id <= slots; id++ {
		got := feed(ra, fragFrom, cut(frames[id], 1000, uint32(id), superMeta)[1])
		if len(got) != 1 || !bytes.Equal(got[0].fr, frames[id]) {
			t.Errorf("frame %d: got %d frames", id, len(got))
		}
	}
	if got := feed(ra, fragFrom, cut(frames[0], 1000, 0, superMeta)[1]); len(got) != 0 {
		t.Error("the evicted frame completed")
	}
}

func TestReassemblyKeys(t *testing.T) {
	ra, _, c := newTestReassembler(8)
	fr := testFrame(2000, 3)
	fs := cut(fr, 1000, 5, superMeta)
	other := netip.MustParseAddrPort("192.0.2.2:6783")
	// The same id from another address, or another sender name, is
	// another frame.
	otherSender := fs[1]
	otherSender.Meta.Via = peerC
	if got := feed(ra, fragFrom, fs[0]); len(got) != 0 {
		t.Fatal("early")
	}
	if got := feed(ra, other, fs[1]); len(got) != 0 {
		t.Fatal("fragments of two addresses made a frame")
	}
	if got := feed(ra, fragFrom, otherSender); len(got) != 0 {
		t.Fatal("fragments of two senders made a frame")
	}
	// Another total or Meta under the same key replaces the reassembly.
	changed := cut(testFrame(2500, 4), 1000, 5, superMeta)
	feed(ra, fragFrom, changed[0])
	if n := c.snapshot().FrameDrops[FrameDropInconsistent]; n != 1 {
		t.Fatalf("inconsistent = %d, want 1", n)
	}
	got := feed(ra, fragFrom, changed[1:]...)
	if len(got) != 1 || !bytes.Equal(got[0].fr, testFrame(2500, 4)) {
		t.Fatalf("the newer frame: got %d frames", len(got))
	}
	// A frame whole in one fragment needs no slot.
	whole := Fragment{Meta: superMeta, ID: 77, Total: 100, Data: testFrame(100, 5)}
	active := ra.Active()
	fr2, _, slot, ok := ra.add(fragFrom, &whole)
	if !ok || slot != -1 || !bytes.Equal(fr2, whole.Data) || ra.Active() != active {
		t.Errorf("whole fragment: ok %v slot %d active %d", ok, slot, ra.Active())
	}
}

func TestReassemblyAllocs(t *testing.T) {
	ra, clk, _ := newTestReassembler(reassemblySlots)
	fr := testFrame(frame.MaxSuperFrameSize, 1)
	fs := cut(fr, 1430, 1, superMeta)
	allocs := testing.AllocsPerRun(100, func() {
		clk.advance(time.Millisecond)
		ra.Tick()
		for i := range fs {
			fs[i].ID++
			if _, _, slot, ok := ra.add(fragFrom, &fs[i]); ok {
				ra.Release(slot)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("reassembly of a super-frame: %v allocs, want 0", allocs)
	}
}
