package main

import (
	"testing"
	"time"
)

func TestParseTestClock(t *testing.T) {
	for _, c := range []struct {
		in     string
		on     bool
		offset time.Duration
		bad    bool
	}{
		{in: ""},
		{in: "1", on: true},
		{in: "1h", on: true, offset: time.Hour},
		{in: "-10m", on: true, offset: -10 * time.Minute},
		{in: "yes", bad: true},
		{in: "0"},
	} {
		on, off, err := parseTestClock(c.in)
		if (err != nil) != c.bad || on != c.on || off != c.offset {
			t.Errorf("parseTestClock(%q) = %v, %v, %v", c.in, on, off, err)
		}
	}
}
