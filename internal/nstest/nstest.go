// Package nstest holds the helpers of root-only Go tests that build
// throwaway topologies out of network namespaces with the ip command:
// names unique per run, removed when the test ends (and swept if a
// killed run left them), commands run inside a namespace.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// RequireRoot skips t unless it runs as root. CI runs as root, so there
// these tests always run.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to create network namespaces")
	}
}

var (
	seq   atomic.Int32
	swept sync.Once
	stale = regexp.MustCompile(`^ws-nst-(\d+)-\d+$`)
)

// sweep removes namespaces of earlier runs whose process is gone.
func sweep() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		m := stale.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// NS creates a network namespace with a name unique to this run, with lo
// up, deleted (with every process still in it killed) when t ends.
func NS(t testing.TB) string {
	t.Helper()
	swept.Do(sweep)
	name := fmt.Sprintf("ws-nst-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
			self := strconv.Itoa(os.Getpid())
			for _, pid := range strings.Fields(string(out)) {
				// A thread of this test may have entered the namespace
				// (and been parked there by the runtime): not ours to kill.
				if pid != self {
					exec.Command("kill", "-KILL", pid).Run()
				}
			}
		}
		exec.Command("ip", "netns", "del", name).Run()
	})
	Must(t, "", "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// Run runs argv inside namespace ns (the current one if ns is empty) and
// returns its combined output and error.
func Run(ns string, argv ...string) (string, error) {
	if ns != "" {
		argv = append([]string{"ip", "netns", "exec", ns}, argv...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// Must runs argv in ns and fails t if it fails.
func Must(t testing.TB, ns string, argv ...string) string {
	t.Helper()
	out, err := Run(ns, argv...)
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return out
}

// Veth connects namespace a (interface ifa) to namespace b (ifb).
func Veth(t testing.TB, a, ifa, b, ifb string) {
	t.Helper()
	Must(t, "", "ip", "link", "add", ifa, "netns", a, "type", "veth", "peer", "name", ifb, "netns", b)
	Must(t, "", "ip", "-n", a, "link", "set", ifa, "up")
	Must(t, "", "ip", "-n", b, "link", "set", ifb, "up")
}

// Ping reports whether ns reaches addr with a few pings (extra arguments
// go to ping, e.g. "-I", "eth0").
func Ping(ns, addr string, extra ...string) bool {
	argv := append([]string{"ping", "-c", "2", "-i", "0.2", "-W", "1"}, extra...)
	_, err := Run(ns, append(argv, addr)...)
	return err == nil
}
