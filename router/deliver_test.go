package router

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// tcpFrame is an IPv4 TCP frame of flow k (source port 1000+k) carrying
// sequence number seq in its payload; odd flows are 8,600-byte frames
// (handed to the delivery workers), even ones small (written inline when
// the workers are idle).
func tcpFrame(dst, src frame.MAC, k, seq int) []byte {
	n := 14 + 20 + 20 + 8
	if k%2 == 1 {
		n = 8600
	}
	f := make([]byte, n)
	copy(f[0:], dst[:])
	copy(f[6:], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[9] = 0x45, 6
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:], []byte{10, 32, 0, 1})
	copy(ip[16:], []byte{10, 32, 0, 2})
	binary.BigEndian.PutUint16(ip[20:], uint16(1000+k))
	binary.BigEndian.PutUint16(ip[22:], 80)
	binary.BigEndian.PutUint32(ip[40:], uint32(k))
	binary.BigEndian.PutUint32(ip[44:], uint32(seq))
	return f
}

func TestFlowHash(t *testing.T) {
	a, b := frame.MAC{2, 0, 0, 0, 0, 1}, frame.MAC{2, 0, 0, 0, 0, 2}
	if flowHash(tcpFrame(b, a, 1, 0)) != flowHash(tcpFrame(b, a, 1, 99)) {
		t.Error("two frames of one flow hash differently")
	}
	seen := map[uint32]bool{}
	for k := range 64 {
		seen[flowHash(tcpFrame(b, a, k, 0))%4] = true
	}
	if len(seen) != 4 {
		t.Errorf("64 flows over 4 workers used only %d", len(seen))
	}
	for _, f := range [][]byte{nil, make([]byte, 13), tcpFrame(b, a, 1, 0)[:20], make([]byte, 60)} {
		flowHash(f) // short and odd frames must not panic
	}
	f := tcpFrame(b, a, 1, 0)
	if n := testing.AllocsPerRun(100, func() { flowHash(f) }); n != 0 {
		t.Errorf("flowHash: %v allocs", n)
	}
}

// Frames of each flow reach the device in the order they were sent, with
// four delivery workers writing concurrently.
func TestDeliveryKeepsFlowsInOrder(t *testing.T) {
	nodes := meshWorkers(t, 2, 4)
	a, b := frame.MAC{2, 0, 0, 0, 0, 1}, frame.MAC{2, 0, 0, 0, 0, 2}
	const flows, perFlow = 8, 200
	// At most window frames in flight, so that drops are rare; a frame
	// that is dropped frees its place after a while.
	const window = 32
	credit := make(chan struct{}, window)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for s := range perFlow {
			for k := range flows {
				select {
				case credit <- struct{}{}:
				case <-time.After(50 * time.Millisecond):
				}
				select {
				case nodes[0].dev.in <- tcpFrame(b, a, k, s):
				case <-nodes[0].dev.closed:
					return
				}
			}
		}
	}()
	last := make([]int, flows)
	for k := range last {
		last[k] = -1
	}
	got := 0
	deadline := time.After(20 * time.Second)
	var idle <-chan time.Time
	for got < flows*perFlow {
		select {
		case <-sent:
			sent = nil
			idle = time.After(time.Second)
		case f := <-nodes[1].dev.out:
			if len(f) < 62 {
				continue
			}
			k, s := int(binary.BigEndian.Uint32(f[54:])), int(binary.BigEndian.Uint32(f[58:]))
			if k >= flows || s <= last[k] {
				t.Fatalf("flow %d: frame %d after frame %d", k, s, last[k])
			}
			last[k] = s
			got++
			select {
			case <-credit:
			default:
			}
			if sent == nil {
				idle = time.After(time.Second)
			}
		case <-idle:
			// Every frame arrived or was counted as dropped at ingress.
			c := nodes[1].r.Counters()
			t.Logf("%d of %d frames arrived, in order; counters %+v", got, flows*perFlow, c)
			if got+int(c.RxQueueDrops) != flows*perFlow {
				t.Fatalf("%d frames arrived and %d were counted as dropped, of %d", got, c.RxQueueDrops, flows*perFlow)
			}
			return
		case <-deadline:
			// Frames may be dropped under load (counted); order is
			// what matters, and most must arrive.
			if got < flows*perFlow/2 {
				t.Fatalf("only %d of %d frames arrived; counters %+v", got, flows*perFlow, nodes[1].r.Counters())
			}
			return
		}
	}
}

// stuckDevice's writes block until release is closed.
type stuckDevice struct {
	*fakeDevice
	release chan struct{}
}

func (d *stuckDevice) Write(b *frame.Batch, idx []int) (int, error) {
	select {
	case <-d.release:
	case <-d.closed:
	}
	return d.fakeDevice.Write(b, idx)
}

// When the delivery workers cannot keep up, frames are dropped at ingress
// and counted, the receive goroutine keeps going, and delivery resumes.
func TestDeliveryDropsWhenWorkersAreStuck(t *testing.T) {
	a, b := frame.MAC{2, 0, 0, 0, 0, 1}, frame.MAC{2, 0, 0, 0, 0, 2}
	stuck := &stuckDevice{newFakeDevice(), make(chan struct{})}
	ns := meshWorkersDevices(t, []Device{newFakeDevice(), stuck}, 2)
	src := ns[0].dev.(*fakeDevice)
	for s := range 2000 {
		src.in <- tcpFrame(b, a, 2*(s%8)+1, s) // big frames: the workers take them
		if ns[1].r.Counters().RxQueueDrops > 0 {
			break
		}
	}
	waitUntil(t, "drops at ingress", func() bool { return ns[1].r.Counters().RxQueueDrops > 0 })
	close(stuck.release)
	// Drain what the workers were holding, then a new frame gets through.
	for {
		select {
		case <-stuck.out:
			continue
		case <-time.After(200 * time.Millisecond):
		}
		break
	}
	want := tcpFrame(b, a, 99, 1)
	src.in <- want
	deadline := time.After(5 * time.Second)
	for {
		select {
		case f := <-stuck.out:
			if string(f) == string(want) {
				return
			}
		case <-deadline:
			t.Fatalf("no frame after the workers were released; counters %+v", ns[1].r.Counters())
		}
	}
}

type devNode struct {
	dev Device
	r   *Router
}

// meshWorkersDevices starts one router per device on one memory network,
// all neighbours.
func meshWorkersDevices(t *testing.T, devs []Device, workers int) []devNode {
	t.Helper()
	nodes := make([]devNode, len(devs))
	names := make([]frame.PeerName, len(devs))
	addrs := make([]string, len(devs))
	for i := range devs {
		names[i] = frame.PeerName(0x020000000101 + i)
		addrs[i] = fmt.Sprintf("192.0.2.%d:6783", 101+i)
	}
	netw := memory.NewNetwork()
	for i, dev := range devs {
		tr := netw.NewTransport(names[i], netip.MustParseAddrPort(addrs[i]))
		var links []link.Peer
		for j := range devs {
			if i != j {
				links = append(links, link.Peer{Name: names[j], Endpoint: transport.AddrPortEndpoint(netip.MustParseAddrPort(addrs[j]))})
			}
		}
		r, err := New(Config{Self: names[i], Device: dev, Transport: tr, Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Start(); err != nil {
			t.Fatal(err)
		}
		r.SetPeers(links)
		nodes[i] = devNode{dev, r}
		t.Cleanup(func() { r.Close() })
	}
	return nodes
}

func TestDefaultWorkers(t *testing.T) {
	for procs, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 8: 4, 64: 4} {
		if got := defaultWorkers(procs); got != want {
			t.Errorf("defaultWorkers(%d) = %d, want %d", procs, got, want)
		}
	}
}
