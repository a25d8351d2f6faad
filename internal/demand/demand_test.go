package demand

import "testing"

func TestWindow(t *testing.T) {
	var w Window
	steps := []struct {
		note       int // a read needing this many, 0 for none
		period     int64
		have, want int // buffers before the read, Keep's answer
	}{
		{0, 1, 4, 4},       // at the minimum
		{30, 1, 64, 32},    // a read needed 30: 32 kept
		{3, 2, 64, 32},     // the next period still keeps the last one's need
		{0, 3, 32, 4},      // the one after keeps what period 2 needed
		{9, 3, 8, 8},       // never more than there are
		{0, 5, 16, 4},      // a gap of periods forgets both
		{100, 5, 256, 128}, // rounded up to least times a power of two
	}
	for i, s := range steps {
		if s.note > 0 {
			w.Note(s.period, s.note)
		}
		if got := w.Keep(s.period, s.have, 4); got != min(s.want, s.have) {
			t.Fatalf("step %d: Keep(%d, %d, 4) = %d, want %d", i, s.period, s.have, got, s.want)
		}
	}
}
