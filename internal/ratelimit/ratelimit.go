// Package ratelimit limits log lines that anything on the data path can
// trigger: at most Burst per Interval, counting the rest. Logger applies
// it to a *slog.Logger.
package ratelimit

import (
	"sync"
	"time"
)

// Limiter allows at most Burst events per Interval. Set the fields before
// first use; Now, if nil, is time.Now. It is safe for concurrent use.
type Limiter struct {
	Interval time.Duration
	Burst    int
	Now      func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	count       int
	suppressed  int
}

// Allow reports whether an event may be logged now and, if so, how many
// were suppressed since the last one allowed.
func (r *Limiter) Allow() (ok bool, suppressed int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	if now.Sub(r.windowStart) >= r.Interval {
		r.windowStart, r.count = now, 0
	}
	if r.count >= r.Burst {
		r.suppressed++
		return false, 0
	}
	r.count++
	suppressed, r.suppressed = r.suppressed, 0
	return true, suppressed
}
