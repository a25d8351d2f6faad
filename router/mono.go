package router

import "time"

// mono reads the process's monotonic clock: nanoseconds since the router
// was built, never zero (zero marks a stamp never set). Heartbeat
// clocks, the time of the last answer and of the last frame are all on
// it, so that a step of the wall clock neither ages a link nor makes one
// look fresh; a heartbeat clock only ever comes back to the router that
// sent it.
func (r *Router) mono() int64 { return max(int64(time.Since(r.born)), 1) }

// wall turns a mono reading into a time on the wall clock (Config.Now),
// as long before its present reading as the stamp is before mono's: a
// consumer subtracting it from its own reading of the same clock gets
// the elapsed time, whatever steps the wall clock took in between.
func (r *Router) wall(ns int64) time.Time {
	return r.cfg.Now().Add(time.Duration(ns - r.mono()))
}
