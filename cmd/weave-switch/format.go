package main

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// fmtSeconds shows a duration given in seconds (as the API's JSON has
// them) to three significant digits: 312µs, 1.25ms, 2s; "-" for 0.
func fmtSeconds(s float64) string {
	if s <= 0 {
		return "-"
	}
	d := time.Duration(s * float64(time.Second))
	for _, r := range []time.Duration{time.Nanosecond, 10 * time.Nanosecond, 100 * time.Nanosecond, time.Microsecond,
		10 * time.Microsecond, 100 * time.Microsecond, time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond} {
		if d < 1000*r {
			return d.Round(r).String()
		}
	}
	return d.Round(10 * time.Millisecond).String()
}

// fmtBytes shows a byte count in at most five characters: 999B, 1.2K,
// 12K, 123K, 1.2M, ... (powers of 1024).
func fmtBytes(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10) + "B"
	}
	v := float64(n)
	for _, unit := range []string{"K", "M", "G", "T", "P"} {
		v /= 1024
		if v < 9.95 {
			return strconv.FormatFloat(v, 'f', 1, 64) + unit
		}
		if v < 999.5 {
			return strconv.FormatFloat(v, 'f', 0, 64) + unit
		}
	}
	return strconv.FormatFloat(v/1024, 'f', 0, 64) + "E"
}

// clip shortens s to at most n characters, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
