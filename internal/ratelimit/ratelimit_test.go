package ratelimit

import (
	"bytes"
	"log/slog"
	"strings"
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

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	l := NewLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), time.Hour, 2)
	now := time.Unix(100, 0)
	l.lim.Now = func() time.Time { return now }
	l.Log(slog.LevelDebug, "not logged, costs no slot")
	for i := range 4 {
		l.Log(slog.LevelError, "line", "i", i)
	}
	now = now.Add(time.Hour)
	l.Log(slog.LevelWarn, "after")
	out := buf.String()
	if n := strings.Count(out, "\n"); n != 3 || strings.Contains(out, "costs no slot") ||
		!strings.Contains(out, "i=1") || strings.Contains(out, "i=2") || !strings.Contains(out, "msg=after suppressed=2") {
		t.Errorf("log:\n%s", out)
	}
	if ok, _ := NewLogger(nil, time.Second, 1).Allow(slog.LevelError); ok {
		t.Error("a nil logger allows a line")
	}
}
