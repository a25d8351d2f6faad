package sleeve

import (
	"sync"
	"time"
)

// Logger is the small injected logger of STYLE rule 17. A nil func is
// silent; the zero Logger (Discard) logs nothing.
type Logger struct {
	Verbosef func(format string, args ...any)
	Errorf   func(format string, args ...any)
}

// Discard logs nothing.
var Discard = Logger{}

// rateLimiter allows at most burst messages per interval and counts the
// ones it suppressed, for anything that can be triggered per datagram.
type rateLimiter struct {
	now      func() time.Time
	interval time.Duration
	burst    int

	mu          sync.Mutex
	windowStart time.Time
	count       int
	suppressed  int
}

func newRateLimiter(now func() time.Time, interval time.Duration, burst int) *rateLimiter {
	return &rateLimiter{now: now, interval: interval, burst: burst}
}

// allow reports whether a message may be logged now and, if so, how many
// were suppressed since the last one allowed.
func (r *rateLimiter) allow() (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.windowStart) >= r.interval {
		r.windowStart, r.count = now, 0
	}
	if r.count >= r.burst {
		r.suppressed++
		return false, 0
	}
	r.count++
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}
