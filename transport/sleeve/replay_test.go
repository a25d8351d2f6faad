package sleeve

import (
	"math/rand/v2"
	"testing"
)

// slowWindow is the replay rule stated plainly: a counter is accepted once,
// if it is below maxCounter, not below floor, and not more than
// ReplayWindow behind the newest one accepted.
type slowWindow struct {
	seen  map[uint64]bool
	floor uint64 // counters below it count as seen (resume)
	max   uint64 // newest accepted, if any
	any   bool
}

func (w *slowWindow) check(c uint64) bool {
	switch {
	case c >= maxCounter, c < w.floor, w.seen[c]:
		return false
	case w.any && c < w.max && w.max-c > ReplayWindow:
		return false
	}
	w.seen[c] = true
	if !w.any || c > w.max {
		w.max, w.any = c, true
	}
	return true
}

func (w *slowWindow) resume(next uint64) {
	if next > 0 {
		w.floor, w.max, w.any = next, next-1, true
	}
}

// TestReplayWindowRandom checks replayWindow against slowWindow over random
// sequences: a counter that mostly creeps forward, with jumps of up to
// three windows (and to the end of the counter space), and queries around
// it: duplicates, reordering, counters just inside and just outside the
// window, and block boundaries.
func TestReplayWindowRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(6479, 2048))
	for iter := range 300 {
		var w replayWindow
		ref := &slowWindow{seen: map[uint64]bool{}}
		base := uint64(0)
		switch iter % 5 {
		case 1:
			base = rng.Uint64N(1 << 40)
		case 2:
			base = maxCounter - 3*ReplayWindow
		case 3: // resumed after removal
			next := rng.Uint64N(3 * ReplayWindow)
			w.resume(next)
			ref.resume(next)
			base = next
		}
		var recent []uint64
		for op := range 3000 {
			var c uint64
			switch r := rng.IntN(100); {
			case r < 40: // forward a little
				base += rng.Uint64N(4)
				c = base
			case r < 45: // a jump
				base += rng.Uint64N(3 * ReplayWindow)
				c = base
			case r < 65 && len(recent) > 0: // a duplicate
				c = recent[rng.IntN(len(recent))]
			case r < 85: // behind, within about a window
				c = base - min(base, rng.Uint64N(ReplayWindow+200))
			case r < 90: // right at the edge
				c = base - min(base, ReplayWindow-2+rng.Uint64N(5))
			case r < 95: // ahead
				c = base + rng.Uint64N(200)
			default: // anything, sometimes at the end of the counter space
				c = rng.Uint64()
				if rng.IntN(2) == 0 {
					c = maxCounter - 2 + rng.Uint64N(4)
				}
			}
			if base >= maxCounter-ReplayWindow {
				base = maxCounter - ReplayWindow
			}
			want := ref.check(c)
			if got := w.check(c); got != want {
				t.Fatalf("iter %d op %d: check(%d) = %v, reference %v (newest %d)", iter, op, c, got, want, ref.max)
			}
			if want {
				recent = append(recent, c)
				if len(recent) > 64 {
					recent = recent[1:]
				}
			}
		}
		if wantNext := ref.max + 1; ref.any && w.next() != wantNext {
			t.Fatalf("iter %d: next() = %d, want %d", iter, w.next(), wantNext)
		}
	}
}

func TestReplayWindowBasics(t *testing.T) {
	var w replayWindow
	if w.next() != 0 {
		t.Fatalf("fresh window: next %d", w.next())
	}
	steps := []struct {
		c    uint64
		want bool
	}{
		{0, true}, {0, false}, {2, true}, {1, true}, {1, false},
		{ReplayWindow + 2, true}, {2, false}, {1, false}, {3, true},
		{1 << 62, true}, {1<<62 - ReplayWindow, true}, {1<<62 - ReplayWindow - 1, false},
		{maxCounter - 1, true}, {maxCounter, false}, {1<<64 - 1, false},
	}
	for i, s := range steps {
		if got := w.check(s.c); got != s.want {
			t.Fatalf("step %d: check(%d) = %v, want %v", i, s.c, got, s.want)
		}
	}
	// Resumed: everything below next is refused, next and on accepted.
	for _, next := range []uint64{1, 63, 64, 65, 1000} {
		var r replayWindow
		r.resume(next)
		if r.check(next-1) || (next >= 2 && r.check(next-2)) || !r.check(next) || !r.check(next+1) || r.next() != next+2 {
			t.Errorf("resume(%d): wrong", next)
		}
	}
}
