package main

import (
	"fmt"
	"strings"
	"testing"
)

// One round trip, built event by event: ping (tid 100), router 1 (tids
// 10, 11), router 2 (tid 20). Times in µs from 1000 s.
func syntheticTrace() string {
	var b strings.Builder
	line := func(comm string, tid int, us float64, ev, trace string) {
		fmt.Fprintf(&b, "%16s %5d [000] %.6f: %s: %s\n", comm, tid, 1000+us/1e6, ev, trace)
	}
	enter := func(comm string, tid int, us float64, nr int) {
		line(comm, tid, us, "raw_syscalls:sys_enter", fmt.Sprintf("NR %d (3, 0, 0, 0, 0, 0)", nr))
	}
	exit := func(comm string, tid int, us float64, nr, ret int) {
		line(comm, tid, us, "raw_syscalls:sys_exit", fmt.Sprintf("NR %d = %d", nr, ret))
	}
	wake := func(us float64, tid int) {
		line("swapper/0", 0, us, "sched:sched_wakeup", fmt.Sprintf("comm=x pid=%d prio=120 target_cpu=000", tid))
	}
	in := func(us float64, tid int) {
		line("swapper/0", 0, us, "sched:sched_switch", fmt.Sprintf("prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=x next_pid=%d next_prio=120", tid))
	}
	const rs = "weave-switch"
	// ping sends.
	enter("ping", 100, 0, sysSendto)
	exit("ping", 100, 5, sysSendto, 64)
	// hop 1: r1's tid 10 woken at 10, on CPU at 14, reads at 16-18, sends at 30-40.
	wake(10, 10)
	in(14, 10)
	exit(rs, 11, 15, sysFutex, 1) // a futex wake-up by router 1
	enter(rs, 10, 16, sysRead)
	exit(rs, 10, 18, sysRead, 98)
	enter(rs, 10, 30, sysSendmmsg)
	exit(rs, 10, 40, sysSendmmsg, 1)
	// hop 2: r2 woken at 50, on CPU at 51, recvmmsg 52-53, writes the TAP 60-90.
	wake(50, 20)
	in(51, 20)
	enter(rs, 20, 52, sysRecvmmsg)
	exit(rs, 20, 53, sysRecvmmsg, 1)
	enter(rs, 20, 60, sysWrite)
	exit(rs, 20, 90, sysWrite, 98)
	// hop 3: the same thread reads the reply at 92-93 and sends at 95-100.
	enter(rs, 20, 92, sysRead)
	exit(rs, 20, 93, sysRead, 98)
	enter(rs, 20, 95, sysSendmmsg)
	exit(rs, 20, 100, sysSendmmsg, 1)
	// hop 4: r1's tid 11 woken at 110, on CPU at 120, recvmmsg 121-122,
	// writes the TAP 124-130.
	wake(110, 11)
	in(120, 11)
	enter(rs, 11, 121, sysRecvmmsg)
	exit(rs, 11, 122, sysRecvmmsg, 1)
	enter(rs, 11, 124, sysWrite)
	exit(rs, 11, 130, sysWrite, 98)
	// ping gets the reply.
	enter("ping", 100, 6, sysRecvmsg)
	exit("ping", 100, 140, sysRecvmsg, 84)
	return b.String()
}

func TestBreakdown(t *testing.T) {
	var out strings.Builder
	owner := map[int]int{10: 1, 11: 1, 20: 2}
	// Events arrive in time order in perf script output.
	lines := strings.Split(strings.TrimSpace(syntheticTrace()), "\n")
	sortByTime(lines)
	if err := run(strings.NewReader(strings.Join(lines, "\n")), &out, owner); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"1 round trips traced, 0 left out",
		"round trip (ping's sendto to its recvmsg returning):   140.0   140.0",
		// hop 1
		"kernel until the router thread is woken (0: running)    10.0",
		"run-queue wait (woken -> on CPU)                         4.0",
		"router work: read -> send syscall                       12.0",
		// hop 2 (from r1's sendmmsg enter at 30)
		"kernel until the router thread is woken (0: running)    20.0",
		"send syscall (includes the kernel's next steps)         30.0",
		// hop 3: same thread, from its write's return at 90
		"Go runtime: on CPU -> read syscall                       2.0",
		// hop 4
		"run-queue wait (woken -> on CPU)                        10.0",
		"last write -> ping's recvmsg returns:    10.0",
		"futex wake-ups by router threads                         1.0",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

func sortByTime(lines []string) {
	ts := func(l string) string { return strings.Fields(l)[3] }
	for i := 1; i < len(lines); i++ {
		for j := i; j > 0 && ts(lines[j]) < ts(lines[j-1]); j-- {
			lines[j], lines[j-1] = lines[j-1], lines[j]
		}
	}
}
