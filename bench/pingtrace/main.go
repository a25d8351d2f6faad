// Command pingtrace reads `perf script -F comm,tid,cpu,time,event,trace`
// output of sched:sched_wakeup, sched:sched_switch and raw_syscalls
// events, recorded while ping sent echo requests from a container behind
// router r1 to one behind router r2 over the sleeve (bench/pingtrace.sh),
// and prints where the time of each round trip went, hop by hop, with the
// scheduler's part of every hop: the kernel's work until the router
// thread that takes the packet is woken, its wait on the run queue, the
// Go runtime's work from being switched in to the read system call (the
// netpoller handing the goroutine over), the read, the router's own work,
// and the send system call that ends the hop.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
)

// x86-64 system call numbers.
const (
	sysRead     = 0
	sysWrite    = 1
	sysSendto   = 44
	sysRecvmsg  = 47
	sysRecvmmsg = 299
	sysSendmmsg = 307
	sysFutex    = 202
)

type kind int

const (
	enter kind = iota
	exit
	wakeup
	switchIn
)

type event struct {
	t    float64 // seconds
	tid  int     // the thread the event is about
	kind kind
	nr   int   // system call
	ret  int64 // exit: return value
}

func main() {
	r1 := flag.String("r1", "", "thread IDs of the router on the pinging side, comma-separated")
	r2 := flag.String("r2", "", "thread IDs of the router on the answering side, comma-separated")
	flag.BoolVar(&verbose, "v", false, "print every round trip's marks")
	flag.Parse()
	owner := map[int]int{} // tid -> 1 or 2
	for i, list := range []string{*r1, *r2} {
		for _, s := range strings.Split(list, ",") {
			if t, err := strconv.Atoi(s); err == nil {
				owner[t] = i + 1
			}
		}
	}
	if err := run(os.Stdin, os.Stdout, owner); err != nil {
		fmt.Fprintln(os.Stderr, "pingtrace:", err)
		os.Exit(1)
	}
}

// run reads perf script text from in and writes the breakdown to out.
func run(in io.Reader, out io.Writer, owner map[int]int) error {
	evs, pingTid := parse(bufio.NewScanner(in))
	if pingTid == 0 {
		return errors.New("no ping in the trace")
	}
	return analyse(out, evs, owner, pingTid)
}

func parse(sc *bufio.Scanner) ([]event, int) {
	var evs []event
	pingTid := 0
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		// comm tid [cpu] time: event: trace...; comm has no spaces here.
		if len(f) < 5 {
			continue
		}
		tid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		t, err := strconv.ParseFloat(strings.TrimSuffix(f[3], ":"), 64)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(f[4], ":")
		rest := f[5:]
		switch name {
		case "raw_syscalls:sys_enter", "raw_syscalls:sys_exit":
			if len(rest) < 2 || rest[0] != "NR" {
				continue
			}
			nr, _ := strconv.Atoi(rest[1])
			e := event{t: t, tid: tid, nr: nr, kind: enter}
			if name == "raw_syscalls:sys_exit" {
				e.kind = exit
				if len(rest) >= 4 {
					e.ret, _ = strconv.ParseInt(rest[3], 10, 64)
				}
			}
			if f[0] == "ping" && nr == sysSendto && e.kind == enter {
				pingTid = tid
			}
			evs = append(evs, e)
		case "sched:sched_wakeup":
			if p := field(rest, "pid="); p > 0 {
				evs = append(evs, event{t: t, tid: p, kind: wakeup})
			}
		case "sched:sched_switch":
			for i, x := range rest {
				if x == "==>" && i+2 < len(rest) {
					if p := field(rest[i+1:], "next_pid="); p > 0 {
						evs = append(evs, event{t: t, tid: p, kind: switchIn})
					}
				}
			}
		}
	}
	return evs, pingTid
}

func field(f []string, key string) int {
	for _, x := range f {
		if v, ok := strings.CutPrefix(x, key); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// A hop: a packet handed to the kernel by a send system call (of ping or
// a router) and taken by a read system call of the next router, which
// sends it on.
type hop struct {
	name         string
	router       int // reading router
	rd, wr       int // its read and send system calls
	sendFromPrev int // the send that ends the previous hop (for the first, ping's)
}

var hops = []hop{
	{"ping -> TAP -> r1 -> UDP", 1, sysRead, sysSendmmsg, sysSendto},
	{"UDP -> r2 -> TAP (echo request in, reply made in the write)", 2, sysRecvmmsg, sysWrite, sysSendmmsg},
	{"TAP -> r2 -> UDP (the reply)", 2, sysRead, sysSendmmsg, sysWrite},
	{"UDP -> r1 -> TAP (reply to ping)", 1, sysRecvmmsg, sysWrite, sysSendmmsg},
}

// The parts of a hop, in order; the times between successive marks.
var parts = []string{
	"kernel until the router thread is woken (0: running)",
	"run-queue wait (woken -> on CPU)",
	"Go runtime: on CPU -> read syscall",
	"read syscall",
	"router work: read -> send syscall",
	"send syscall (includes the kernel's next steps)",
}

var verbose bool

const maxRTT = 0.005 // seconds

func analyse(w io.Writer, evs []event, owner map[int]int, pingTid int) error {
	// Each ping: its sendto enter, then the chain of hops, then ping's
	// recvmsg exit.
	var sums [][]float64 // per ping: per hop×part, then the tail
	nParts := len(parts)
	var rtts, tails, extraWakes []float64
	lost := 0
	for i, e := range evs {
		if e.tid != pingTid || e.kind != enter || e.nr != sysSendto {
			continue
		}
		row := make([]float64, len(hops)*nParts)
		prevSend := e.t // enter of the send that ends the previous hop
		prevExit, prevTid := e.t, pingTid
		j := i
		ok := true
		for h, hp := range hops {
			// The read that takes the packet: the first of the router's
			// reads that returns > 0 after prevSend.
			rdEnter, rdExit, tid := -1, -1, 0
			for k := j; k < len(evs); k++ {
				x := evs[k]
				if owner[x.tid] != hp.router || x.nr != hp.rd {
					continue
				}
				if x.kind == exit && x.ret > 0 && x.t >= prevSend {
					rdExit, tid = k, x.tid
					break
				}
			}
			if rdExit < 0 {
				ok = false
				break
			}
			for k := rdExit - 1; k >= 0; k-- {
				if evs[k].tid == tid && evs[k].kind == enter && evs[k].nr == hp.rd {
					rdEnter = k
					break
				}
			}
			// The thread's last wake-up and switch-in before the read, if
			// after prevSend.
			// A thread that made the previous send itself starts this hop
			// when that send returns.
			from := prevSend
			if tid == prevTid {
				from = prevExit
			}
			wake, in := from, from
			for k := rdEnter; k >= 0 && evs[k].t >= from; k-- {
				if evs[k].tid != tid {
					continue
				}
				if evs[k].kind == switchIn && in == from {
					in = evs[k].t
				}
				if evs[k].kind == wakeup {
					wake = evs[k].t
					break
				}
			}
			if in < wake {
				in = wake
			}
			// The send that ends this hop.
			wrEnter, wrExit := -1, -1
			for k := rdExit; k < len(evs); k++ {
				x := evs[k]
				if x.tid != tid || x.nr != hp.wr {
					continue
				}
				if x.kind == enter && wrEnter < 0 {
					wrEnter = k
				}
				if x.kind == exit && wrEnter >= 0 {
					wrExit = k
					break
				}
			}
			if wrExit < 0 {
				ok = false
				break
			}
			re, rx, we, wx := in, evs[rdExit].t, evs[wrEnter].t, evs[wrExit].t
			if rdEnter >= 0 && evs[rdEnter].t >= from {
				re = evs[rdEnter].t
			}
			marks := []float64{from, wake, in, re, rx, we, wx}
			if verbose {
				fmt.Fprintf(w, "ping at %.6f hop %d tid %d:", e.t, h+1, tid)
				for _, m := range marks {
					fmt.Fprintf(w, " %.0f", (m-e.t)*1e6)
				}
				fmt.Fprintln(w)
			}
			for p := range nParts {
				row[h*nParts+p] = (marks[p+1] - marks[p]) * 1e6
			}
			prevSend, prevExit, prevTid = we, wx, tid
			j = wrExit
		}
		if !ok {
			continue
		}
		// ping's wake-up and the exit of its recvmsg.
		end := -1
		for k := j; k < len(evs); k++ {
			if evs[k].tid == pingTid && evs[k].kind == exit && evs[k].nr == sysRecvmsg && evs[k].ret > 0 {
				end = k
				break
			}
		}
		if end < 0 {
			continue
		}
		// Futex wake-ups the routers made during this ping (a thread
		// woken to spin for work, or sysmon).
		wakes := 0
		for k := i; k < end; k++ {
			x := evs[k]
			if x.kind == exit && x.nr == sysFutex && owner[x.tid] != 0 && x.ret > 0 {
				wakes++
			}
		}
		if evs[end].t-e.t > maxRTT {
			lost++ // too slow to tell from a wrong match
			continue
		}
		lastSend := evs[j].t
		sums = append(sums, row)
		tails = append(tails, (evs[end].t-lastSend)*1e6)
		rtts = append(rtts, (evs[end].t-e.t)*1e6)
		extraWakes = append(extraWakes, float64(wakes))
	}
	if len(sums) == 0 {
		return errors.New("no complete round trip in the trace")
	}
	fmt.Fprintf(w, "%d round trips traced, %d left out (longer than %.0f ms: the machine was busy, or an event was lost and the match is wrong)\n", len(sums), lost, maxRTT*1e3)
	fmt.Fprintln(w, "times in µs: median, mean; the tracing itself slows every system call and switch")
	fmt.Fprintf(w, "round trip (ping's sendto to its recvmsg returning): %s\n", stat(rtts))
	var sched, kern, router []float64
	for h, hp := range hops {
		fmt.Fprintf(w, "\nhop %d: %s\n", h+1, hp.name)
		for p, name := range parts {
			col := make([]float64, len(sums))
			for r := range sums {
				col[r] = sums[r][h*nParts+p]
			}
			fmt.Fprintf(w, "  %-52s %s\n", name, stat(col))
		}
	}
	for r := range sums {
		var s, k, w float64
		for h := range hops {
			s += sums[r][h*nParts+1] + sums[r][h*nParts+2]
			k += sums[r][h*nParts+0] + sums[r][h*nParts+5]
			w += sums[r][h*nParts+3] + sums[r][h*nParts+4]
		}
		sched, kern, router = append(sched, s), append(kern, k), append(router, w)
	}
	fmt.Fprintf(w, "\nlast write -> ping's recvmsg returns: %s\n", stat(tails))
	fmt.Fprintf(w, "\ntotals per round trip:\n")
	fmt.Fprintf(w, "  %-52s %s\n", "scheduler (run-queue waits + Go runtime hand-over)", stat(sched))
	fmt.Fprintf(w, "  %-52s %s\n", "kernel (wake-up paths + send syscalls)", stat(kern))
	fmt.Fprintf(w, "  %-52s %s\n", "routers (read syscalls + own work)", stat(router))
	fmt.Fprintf(w, "  %-52s %s\n", "futex wake-ups by router threads", stat(extraWakes))
	return nil
}

func stat(v []float64) string {
	s := slices.Clone(v)
	slices.Sort(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%7.1f %7.1f", med, sum/float64(len(s)))
}
