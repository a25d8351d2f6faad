package clock

import (
	"sync"
	"testing"
	"time"
)

func TestZeroIsSystemClock(t *testing.T) {
	var c Stepped
	before := time.Now()
	got := c.Now()
	after := time.Now()
	if got.Before(before) || got.After(after) {
		t.Fatalf("Now %v outside [%v, %v]", got, before, after)
	}
	if c.Offset() != 0 {
		t.Fatalf("offset %v, want 0", c.Offset())
	}
}

func TestStepMovesWallClock(t *testing.T) {
	var c Stepped
	if off, ok := c.Step(time.Hour); !ok || off != time.Hour {
		t.Fatalf("Step(1h) = %v, %v", off, ok)
	}
	sys := time.Now().UnixNano()
	got := c.Now().UnixNano()
	// The stamp is an hour ahead, within the few microseconds between
	// the two readings (bounded by a second, not timed).
	if d := time.Duration(got - sys); d < time.Hour || d > time.Hour+time.Second {
		t.Fatalf("stepped clock is %v ahead, want 1h", d)
	}
	if off, ok := c.Step(-70 * time.Minute); !ok || off != -10*time.Minute {
		t.Fatalf("Step(-70m) = %v, %v, want -10m", off, ok)
	}
	if d := time.Duration(c.Now().UnixNano() - time.Now().UnixNano()); d > -9*time.Minute || d < -11*time.Minute {
		t.Fatalf("stepped clock is %v off, want about -10m", d)
	}
}

// A difference of two readings taken across a step includes the step:
// the monotonic reading moves with the wall time.
func TestStepSeenByDifferences(t *testing.T) {
	var c Stepped
	a := c.Now()
	c.Step(time.Hour)
	b := c.Now()
	if d := b.Sub(a); d < time.Hour {
		t.Fatalf("difference across a 1h step = %v", d)
	}
	// Readings on the same side of a step differ by the time between them.
	d := c.Now().Sub(b)
	if d < 0 || d > time.Minute {
		t.Fatalf("difference after the step = %v", d)
	}
}

func TestStepBounds(t *testing.T) {
	var c Stepped
	if _, ok := c.Step(MaxStep + 1); ok {
		t.Fatal("a step beyond MaxStep was taken")
	}
	if _, ok := c.Step(MaxStep); !ok {
		t.Fatal("a step of MaxStep was refused")
	}
	if off, ok := c.Step(time.Nanosecond); ok || off != MaxStep {
		t.Fatalf("offset beyond MaxStep: %v, %v", off, ok)
	}
	if off, ok := c.Step(-MaxStep); !ok || off != 0 {
		t.Fatalf("Step(-MaxStep) from MaxStep = %v, %v", off, ok)
	}
}

func TestConcurrentSteps(t *testing.T) {
	var c Stepped
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Step(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if c.Offset() != 800*time.Second {
		t.Fatalf("offset %v, want 800s", c.Offset())
	}
}
