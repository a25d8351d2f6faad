// Package clock is a wall clock that tests can step while a router runs.
//
// A Stepped clock reads time.Now and adds an offset that Step moves
// forward or backward, the way an NTP step or an operator's date command
// moves a host's clock. Every service of a router is given the same
// Stepped clock's Now, so that one step is seen by all of them at once.
// With no step taken the offset is zero and Now is time.Now.
//
// What a step reaches: a Time from Now carries Go's monotonic reading,
// and Add moves that reading with the wall time. A step is therefore
// seen by wall-clock stamps (UnixNano, UnixMilli: heartbeat clocks,
// gossip incarnations, DNS register stamps, tombstone dates, punch
// slots) and also by a difference of two Now readings taken on either
// side of it. A real step of the system clock leaves the monotonic
// reading alone, so for such differences a Stepped clock is harsher than
// the real thing; timers and tickers (time.NewTimer, time.After) run on
// the runtime's monotonic clock and see neither.
package clock

import (
	"sync/atomic"
	"time"
)

// MaxStep bounds one step and the total offset: far enough for any
// clock fault worth testing, short of overflowing time arithmetic.
const MaxStep = 100 * 24 * time.Hour

// Stepped is a wall clock with an offset. The zero value reads the
// system clock; it is safe for concurrent use.
type Stepped struct {
	offset atomic.Int64 // nanoseconds added to time.Now
}

// Now returns the system time plus the offset.
func (c *Stepped) Now() time.Time {
	if d := c.offset.Load(); d != 0 {
		return time.Now().Add(time.Duration(d))
	}
	return time.Now()
}

// Offset returns how far the clock is from the system's.
func (c *Stepped) Offset() time.Duration { return time.Duration(c.offset.Load()) }

// Step moves the clock by d (backward if negative) and returns the new
// offset. A step that would take the offset beyond ±MaxStep is refused:
// it returns the offset unchanged and false.
func (c *Stepped) Step(d time.Duration) (time.Duration, bool) {
	for {
		old := c.offset.Load()
		n := old + int64(d)
		if d > MaxStep || d < -MaxStep || n > int64(MaxStep) || n < -int64(MaxStep) {
			return time.Duration(old), false
		}
		if c.offset.CompareAndSwap(old, n) {
			return time.Duration(n), true
		}
	}
}
