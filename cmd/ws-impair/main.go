// Command ws-impair holds packets back: bound to a netfilter queue (an
// nftables `queue` rule sends packets to it), it lets each packet go on
// after a delay drawn uniformly from [delay-jitter, delay+jitter]. A
// packet drawn a shorter delay than the one before it overtakes it, so
// the jitter also reorders them, as netem's delay with jitter does. It
// stands in for netem on kernels without sch_netem; it is a test tool,
// built by scripts/netns-faults-test.sh.
//
//	ws-impair -queue N -delay 20ms -jitter 5ms
//
// It runs until SIGTERM or SIGINT, then lets every packet it still holds
// go at once and prints one line of counts: packets, reordered (let go
// after a packet that arrived later), the most held at once, and
// netlink receive errors (packets the kernel could not tell it about).
package main

import (
	"container/heap"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	queue := flag.Uint("queue", 0, "netfilter queue number")
	delay := flag.Duration("delay", 20*time.Millisecond, "mean delay")
	jitter := flag.Duration("jitter", 5*time.Millisecond, "delay varies uniformly by ± this")
	maxLen := flag.Uint("maxlen", 10000, "packets the kernel queues before dropping")
	flag.Parse()
	if *jitter > *delay {
		fatal(fmt.Errorf("jitter %v is more than the delay %v", *jitter, *delay))
	}
	s, err := openQueue(uint16(*queue), uint32(*maxLen))
	if err != nil {
		fatal(err)
	}
	im := &impairer{sock: s, queue: uint16(*queue), delay: *delay, jitter: *jitter,
		in: make(chan held, 4096), stop: make(chan struct{})}
	var wg sync.WaitGroup
	wg.Go(im.schedule)
	go im.receive() // ends with the process: a blocked netlink read has no other way out
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	close(im.stop)
	wg.Wait()
	fmt.Printf("packets %d reordered %d max_held %d recv_errors %d\n",
		im.packets, im.reordered, im.maxHeld, im.recvErrors.Load())
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "ws-impair:", err)
	os.Exit(1)
}

// held is a packet waiting for its verdict.
type held struct {
	due time.Time
	id  uint32
	seq uint64 // arrival order
}

type impairer struct {
	sock          *queueSocket
	queue         uint16
	delay, jitter time.Duration
	in            chan held
	stop          chan struct{}

	recvErrors atomicCount
	// schedule's own:
	packets, reordered, lastSeq uint64
	maxHeld                     int
}

// receive reads packets from the queue and hands them to schedule, each
// with its due time.
func (im *impairer) receive() {
	buf := make([]byte, 1<<16)
	var seq uint64
	for {
		n, err := im.sock.recv(buf)
		if err != nil {
			im.recvErrors.Add(1)
			continue
		}
		now := time.Now()
		if err := parse(buf[:n], func(id uint32) {
			seq++
			d := im.delay
			if im.jitter > 0 {
				d += time.Duration(rand.Int64N(int64(2*im.jitter)+1)) - im.jitter
			}
			im.in <- held{due: now.Add(d), id: id, seq: seq}
		}); err != nil {
			fmt.Fprintln(os.Stderr, "ws-impair:", err)
		}
	}
}

// schedule lets each packet go when it is due, and every packet at once
// when told to stop.
func (im *impairer) schedule() {
	var h heldHeap
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	release := func(p held) {
		if err := im.sock.send(verdictMsg(im.queue, p.id)); err != nil {
			fmt.Fprintln(os.Stderr, "ws-impair: verdict:", err)
		}
		im.packets++
		if p.seq < im.lastSeq {
			im.reordered++
		}
		im.lastSeq = max(im.lastSeq, p.seq)
	}
	for {
		now := time.Now()
		for len(h) > 0 && !h[0].due.After(now) {
			release(heap.Pop(&h).(held))
		}
		if len(h) > 0 {
			t.Reset(h[0].due.Sub(now))
		}
		select {
		case p := <-im.in:
			heap.Push(&h, p)
			im.maxHeld = max(im.maxHeld, len(h))
		case <-t.C:
		case <-im.stop:
			for len(h) > 0 {
				release(heap.Pop(&h).(held))
			}
			for {
				select {
				case p := <-im.in:
					release(p)
				default:
					return
				}
			}
		}
	}
}

// heldHeap orders packets by due time.
type heldHeap []held

func (h heldHeap) Len() int           { return len(h) }
func (h heldHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h heldHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *heldHeap) Push(x any)        { *h = append(*h, x.(held)) }
func (h *heldHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
