//go:build !linux

package mesh

import "syscall"

// reusePort does nothing here: without it punching is off (canPunch).
func reusePort(_, _ string, _ syscall.RawConn) error { return nil }

// canPunch: this platform does not punch holes.
const canPunch = false

// punchSocket does nothing here: punching is off.
func punchSocket(_, _ string, _ syscall.RawConn) error { return nil }
