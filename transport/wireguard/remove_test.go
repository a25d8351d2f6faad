package wireguard

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Removing a peer whose frames are arriving returns: the device's
// removal waits for the peer's receive routine, which can be handing a
// frame to the ReceiveFunc at that moment, so the ReceiveFunc must
// never wait for the removal (the peers' lock is not held across device
// configuration). Likewise replacing a peer by one with another key.
func TestRemovePeerWhileReceiving(t *testing.T) {
	for round := range 10 {
		a, b, _, rb, _, epB := newPair(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { // a floods b
			out := frame.NewBatch(32, transport.MaxOverhead)
			for i := range 32 {
				copy(out.Room(i), testFrame(1200, byte(i)))
				out.Sizes[i], out.Meta[i] = 1200, frame.Meta{Src: nameA, Dst: nameB}
			}
			out.N = 32
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = a.Send(out, epB)
			}
		})
		wg.Go(func() { // b's router receives slowly
			in := frame.NewBatch(8, transport.MaxOverhead)
			eps := make([]transport.Endpoint, 8)
			for {
				if _, err := rb(in, eps); err != nil {
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
		})
		// Let frames queue in b's device.
		for b.stats.RxFrames.Load() < 200 {
			time.Sleep(time.Millisecond)
		}
		removed := make(chan error, 1)
		go func() {
			if round%2 == 0 {
				removed <- b.RemovePeer(nameA)
				return
			}
			k, err := GenerateKey()
			if err != nil {
				removed <- err
				return
			}
			removed <- b.AddPeer(nameA, PublicKeyOf(k), a.local)
		}()
		select {
		case err := <-removed:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(linkDeadline):
			// A deadlock: Close would hang too, so no Fatal (its
			// clean-up would wait forever).
			buf := make([]byte, 1<<20)
			panic(fmt.Sprintf("round %d: removing a peer whose frames arrive did not return in %v:\n%s", round, linkDeadline, buf[:runtime.Stack(buf, true)]))
		}
		close(stop)
		a.Close()
		b.Close() // ends b's receive
		wg.Wait()
	}
}
