package alloc

import "math"

// inc returns c+1, or c and false when c is at its maximum: the state's
// uint32 counters (versions, epochs, sequence numbers) saturate instead
// of wrapping, and a change that needs a higher number than the maximum
// is not made (see "Counters" in the package documentation).
func inc(c uint32) (uint32, bool) {
	if c == math.MaxUint32 {
		return c, false
	}
	return c + 1, true
}
