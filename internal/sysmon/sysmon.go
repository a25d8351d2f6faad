// Package sysmon keeps the Go runtime's system monitor (sysmon) awake in a
// router process, for latency.
//
// When every P of the runtime is idle, sysmon parks in a deep sleep, and
// the next system call of any goroutine wakes it (a futex wake-up of its
// thread); after such a wake-up sysmon polls every 20 µs for a millisecond
// or more before it slows down again. A router that forwards a lone frame
// (a ping, a request after a pause) starts from that idle state at every
// hop, so each hop pays an extra thread wake-up and then shares its CPU
// with sysmon's polling while the frame is on its way. With the runtime
// setting schedtrace above zero sysmon never takes the deep sleep: idle,
// it polls every 10 ms (about 100 wake-ups a second, a few µs each), and
// a hop pays nothing for it.
//
// schedtrace is read once, when the runtime starts, so the setting needs
// a new process: Exec re-executes the program with it added to GODEBUG.
// The period is the largest the runtime accepts (about 24.8 days): the
// scheduler summary it prints to standard error that often is the only
// trace of the setting (also once at start on a machine up for longer
// than the period).
package sysmon

import (
	"os"
	"strings"
	"syscall"
)

// Setting is what Exec adds to GODEBUG.
const Setting = "schedtrace=2147483647"

// Env returns the environment to re-execute the program with and whether
// a re-execution is needed: not when GODEBUG already says schedtrace (any
// value, so GODEBUG=schedtrace=0 turns this off).
func Env(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for _, f := range strings.Split(v, ",") {
			if strings.HasPrefix(f, "schedtrace=") {
				return environ, false
			}
		}
		found = true
		if v == "" {
			out = append(out, "GODEBUG="+Setting)
		} else {
			out = append(out, "GODEBUG="+v+","+Setting)
		}
	}
	if !found {
		out = append(out, "GODEBUG="+Setting)
	}
	return out, true
}

// Exec re-executes the running program, with the same arguments, with
// schedtrace added to GODEBUG, unless GODEBUG already says schedtrace. It
// returns only if it does nothing (nil) or the exec fails (the error; the
// caller can go on as it is). Call it first thing, before the process
// opens anything or starts goroutines of its own.
func Exec() error {
	env, need := Env(os.Environ())
	if !need {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	return syscall.Exec(exe, os.Args, env)
}
