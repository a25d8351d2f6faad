package ratelimit

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(100, 0)
	l := &Limiter{Interval: time.Second, Burst: 2, Now: func() time.Time { return now }}
	for i, want := range []bool{true, true, false, false} {
		if ok, _ := l.Allow(); ok != want {
			t.Fatalf("event %d: Allow = %v, want %v", i, ok, want)
		}
	}
	now = now.Add(time.Second)
	if ok, suppressed := l.Allow(); !ok || suppressed != 2 {
		t.Errorf("next window: Allow = %v, %d suppressed; want true, 2", ok, suppressed)
	}
}
