package reassembly

import (
	"bytes"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// A pooled Reassembler holds a buffer only while a frame is reassembled:
// Take hands it over, Release, eviction, timeout and Reset give it back,
// and with the pool empty a new reassembly is refused (DropNoBuffer).
func TestPooled(t *testing.T) {
	now := time.Unix(0, 0)
	var drops Drops
	pool := NewPool(2)
	ra := NewPooled(3, pool, func() time.Time { return now }, &drops)
	check := func() {
		t.Helper()
		if err := ra.CheckInvariants(); err != nil {
			t.Fatal(err)
		}
	}
	fr := make([]byte, 300)
	for i := range fr {
		fr[i] = byte(i)
	}
	meta := frame.Meta{Src: 1, Dst: 2}
	piece := func(id uint32, lo, hi int) *Fragment {
		return &Fragment{Key: Key{Sender: 1, ID: id}, Meta: meta, Offset: lo, Total: len(fr), Data: fr[lo:hi]}
	}
	ra.Tick()
	// Frame 1 arrives out of order and is taken.
	if _, _, _, ok := ra.Add(piece(1, 100, 300)); ok {
		t.Fatal("completed early")
	}
	got, m, slot, ok := ra.Add(piece(1, 0, 100))
	if !ok || !bytes.Equal(got, fr) || m != meta {
		t.Fatalf("frame 1: ok %v, %d bytes", ok, len(got))
	}
	buf := ra.Take(slot)
	check()
	if buf == nil || &buf[0] != &got[0] || ra.Active() != 0 {
		t.Fatalf("Take = %p, active %d", buf, ra.Active())
	}
	// Frames 2 and 3 start: the pool (one buffer left) refuses frame 3.
	ra.Add(piece(2, 0, 100))
	if _, _, _, ok := ra.Add(piece(3, 0, 100)); ok || drops[DropNoBuffer].Load() != 1 {
		t.Fatalf("frame 3 without a buffer: ok %v, drops %d", ok, drops[DropNoBuffer].Load())
	}
	check()
	// The taken buffer comes back; frame 3 starts, frame 2 times out.
	pool.Put(buf)
	ra.Add(piece(3, 0, 100))
	check()
	now = now.Add(2 * DefaultTimeout)
	ra.Tick()
	check()
	if ra.Active() != 0 || drops[DropTimeout].Load() != 2 {
		t.Fatalf("active %d, timeouts %d", ra.Active(), drops[DropTimeout].Load())
	}
	// Both buffers are back: two reassemblies start, Reset returns them.
	ra.Add(piece(4, 0, 100))
	ra.Add(piece(5, 0, 100))
	if pool.Get() != nil {
		t.Fatal("pool not empty with two reassemblies")
	}
	ra.Reset()
	check()
	if a, b := pool.Get(), pool.Get(); a == nil || b == nil || pool.made != 2 {
		t.Fatal("Reset did not return the buffers")
	}
}

// Whole frames and Release cost nothing; a pooled reassembly allocates
// nothing once its pool's buffers exist.
func TestPooledAllocs(t *testing.T) {
	var drops Drops
	pool := NewPool(1)
	ra := NewPooled(2, pool, time.Now, &drops)
	fr := make([]byte, 3000)
	f1 := &Fragment{Key: Key{ID: 1}, Offset: 0, Total: len(fr), Data: fr[:1500]}
	f2 := &Fragment{Key: Key{ID: 1}, Offset: 1500, Total: len(fr), Data: fr[1500:]}
	run := func() {
		ra.Tick()
		ra.Add(f1)
		_, _, slot, ok := ra.Add(f2)
		if !ok {
			t.Fatal("not completed")
		}
		pool.Put(ra.Take(slot))
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Errorf("%v allocs", n)
	}
}
