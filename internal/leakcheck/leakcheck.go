// Package leakcheck is the goroutine-leak check every test that starts
// goroutines uses: a goroutine left running after a test is a bug in the
// code under test.
package leakcheck

import (
	"runtime"
	"testing"
	"time"
)

// Check fails t if, after t and its cleanups finish, more goroutines run
// than when Check was called, retrying for up to wait (one second if zero)
// while they wind down. It prints every goroutine's stack on failure.
func Check(t testing.TB, wait ...time.Duration) {
	t.Helper()
	before := runtime.NumGoroutine()
	d := time.Second
	if len(wait) > 0 && wait[0] > 0 {
		d = wait[0]
	}
	t.Cleanup(func() {
		deadline := time.Now().Add(d)
		for {
			after := runtime.NumGoroutine()
			if after <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, after, buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
