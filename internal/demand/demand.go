// Package demand keeps a reader's buffers to what its recent reads
// needed: a reader that reads into a set of buffers grown on demand
// records what each read needed, and before a read drops back to the
// most any read of the current period and the one before it needed.
package demand

// Window is what the reads of two consecutive periods needed. The zero
// value is ready; periods are numbered by the caller (a clock's count of
// fixed intervals, a housekeeping epoch).
type Window struct {
	period    int64
	cur, prev int // the most buffers a read needed in period, period-1
}

// roll moves w to period p: the needs of period p-1 are kept, older ones
// forgotten.
func (w *Window) roll(p int64) {
	if p == w.period {
		return
	}
	w.prev = 0
	if p == w.period+1 {
		w.prev = w.cur
	}
	w.cur, w.period = 0, p
}

// Note records in period p a read that needed n buffers.
func (w *Window) Note(p int64, n int) {
	w.roll(p)
	w.cur = max(w.cur, n)
}

// Keep is, in period p, the number of buffers to keep of have: the most
// a read of p or p-1 needed, rounded up to least times a power of two,
// never more than have nor less than least.
func (w *Window) Keep(p int64, have, least int) int {
	w.roll(p)
	if have <= least {
		return have
	}
	keep := least
	for keep < max(w.cur, w.prev) {
		keep *= 2
	}
	return min(keep, have)
}
