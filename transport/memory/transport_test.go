package memory

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

const (
	peerA frame.PeerName = 0x0200000000a1
	peerB frame.PeerName = 0x0200000000b2
)

type node struct {
	tr   *Transport
	recv transport.ReceiveFunc
	addr netip.AddrPort
	ep   transport.Endpoint
}

func open(t testing.TB, n *Network, self frame.PeerName, addr netip.AddrPort) node {
	t.Helper()
	tr := n.NewTransport(self, addr)
	fns, local, err := tr.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if len(fns) != 1 {
		t.Fatalf("got %d ReceiveFuncs, want 1", len(fns))
	}
	return node{tr: tr, recv: fns[0], addr: local, ep: transport.AddrPortEndpoint(local)}
}

// fill sets frame i of b to size bytes of pattern byte(i+seed).
func fill(b *frame.Batch, sizes []int, seed byte, meta frame.Meta) {
	b.N = len(sizes)
	for i, size := range sizes {
		b.Sizes[i] = size
		b.Meta[i] = meta
		f := b.Frame(i)
		for j := range f {
			f[j] = byte(i) + seed + byte(j)
		}
	}
}

func TestSendReceive(t *testing.T) {
	leakCheck(t)
	n := NewNetwork()
	a := open(t, n, peerA, netip.MustParseAddrPort("10.0.0.1:6783"))
	bn := open(t, n, peerB, netip.MustParseAddrPort("10.0.0.2:6783"))

	out := frame.NewBatch(8, transport.MaxOverhead)
	fill(out, []int{14, 60, 1500, frame.MaxFrameSize}, 7, frame.Meta{Src: peerA, Dst: peerB, Via: 12345})
	if err := a.tr.Send(out, bn.ep); err != nil {
		t.Fatal(err)
	}
	in := frame.NewBatch(8, transport.MaxOverhead)
	eps := make([]transport.Endpoint, 8)
	got, err := bn.recv(in, eps)
	if err != nil {
		t.Fatal(err)
	}
	if got != 4 || in.N != 4 {
		t.Fatalf("got %d frames (N=%d), want 4", got, in.N)
	}
	for i := range got {
		if !bytes.Equal(in.Frame(i), out.Frame(i)) {
			t.Errorf("frame %d differs", i)
		}
		want := frame.Meta{Src: peerA, Dst: peerB, Via: peerA}
		if in.Meta[i] != want {
			t.Errorf("frame %d: meta %+v, want %+v", i, in.Meta[i], want)
		}
		if eps[i] != a.ep {
			t.Errorf("frame %d: endpoint %v, want %v", i, eps[i], a.ep)
		}
	}
	if s := a.tr.Stats(); s.Sent != 4 {
		t.Errorf("sender stats %+v", s)
	}
	if s := bn.tr.Stats(); s.Received != 4 {
		t.Errorf("receiver stats %+v", s)
	}
}

func TestReceiveSmallBatch(t *testing.T) {
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	out := frame.NewBatch(10, transport.MaxOverhead)
	sizes := []int{20, 21, 22, 23, 24, 25, 26, 27, 28, 29}
	fill(out, sizes, 0, frame.Meta{Src: peerA})
	if err := a.tr.Send(out, bn.ep); err != nil {
		t.Fatal(err)
	}
	in := frame.NewBatch(4, transport.MaxOverhead)
	eps := make([]transport.Endpoint, 3) // fewer eps than buffers: eps bound the batch
	var got []int
	for len(got) < len(sizes) {
		k, err := bn.recv(in, eps)
		if err != nil {
			t.Fatal(err)
		}
		if k > 3 {
			t.Fatalf("got %d frames, more than len(eps)", k)
		}
		for i := range k {
			got = append(got, in.Sizes[i])
		}
	}
	for i := range sizes {
		if got[i] != sizes[i] {
			t.Fatalf("order: got sizes %v, want %v", got, sizes)
		}
	}
}

func TestQueueFullDrops(t *testing.T) {
	n := NewNetwork()
	n.SetQueueLen(4)
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	out := frame.NewBatch(10, transport.MaxOverhead)
	fill(out, []int{60, 60, 60, 60, 60, 60, 60, 60, 60, 60}, 0, frame.Meta{})
	if err := a.tr.Send(out, bn.ep); err != nil { // must not block
		t.Fatal(err)
	}
	if s := bn.tr.Stats(); s.QueueDrops != 6 {
		t.Errorf("QueueDrops = %d, want 6", s.QueueDrops)
	}
	in := frame.NewBatch(10, transport.MaxOverhead)
	k, err := bn.recv(in, make([]transport.Endpoint, 10))
	if err != nil || k != 4 {
		t.Fatalf("recv = %d, %v; want 4 frames", k, err)
	}
}

func TestLossIsSeeded(t *testing.T) {
	run := func(seed uint64) (sent, lost uint64) {
		n := NewNetwork()
		n.SetSeed(seed)
		n.SetLoss(0.3)
		a := open(t, n, peerA, netip.AddrPort{})
		bn := open(t, n, peerB, netip.AddrPort{})
		out := frame.NewBatch(100, transport.MaxOverhead)
		sizes := make([]int, 100)
		for i := range sizes {
			sizes[i] = 64
		}
		fill(out, sizes, 0, frame.Meta{})
		if err := a.tr.Send(out, bn.ep); err != nil {
			t.Fatal(err)
		}
		s := a.tr.Stats()
		return s.Sent, s.Lost
	}
	sent, lost1 := run(42)
	_, lost2 := run(42)
	if sent != 100 || lost1 != lost2 {
		t.Fatalf("same seed gave %d and %d lost frames", lost1, lost2)
	}
	if lost1 < 10 || lost1 > 50 {
		t.Errorf("lost %d of 100 at p=0.3", lost1)
	}
}

func TestCutHeal(t *testing.T) {
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	out := frame.NewBatch(1, transport.MaxOverhead)
	fill(out, []int{60}, 0, frame.Meta{})
	n.Cut(bn.addr, a.addr) // either order
	if err := a.tr.Send(out, bn.ep); err != nil {
		t.Fatal(err)
	}
	if err := bn.tr.Send(out, a.ep); err != nil {
		t.Fatal(err)
	}
	if a.tr.Stats().Cut != 1 || bn.tr.Stats().Cut != 1 {
		t.Fatalf("cut counters: %+v %+v", a.tr.Stats(), bn.tr.Stats())
	}
	n.Heal(a.addr, bn.addr)
	if err := a.tr.Send(out, bn.ep); err != nil {
		t.Fatal(err)
	}
	in := frame.NewBatch(1, transport.MaxOverhead)
	if k, err := bn.recv(in, make([]transport.Endpoint, 1)); k != 1 || err != nil {
		t.Fatalf("after Heal: %d, %v", k, err)
	}
}

func TestUnreachableAndBadSize(t *testing.T) {
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	out := frame.NewBatch(3, transport.MaxOverhead)
	fill(out, []int{60, 13, 60}, 0, frame.Meta{})
	err := a.tr.Send(out, bn.ep)
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "send" {
		t.Fatalf("Send with a 13-byte frame: %v, want an OpError", err)
	}
	in := frame.NewBatch(3, transport.MaxOverhead)
	if k, _ := bn.recv(in, make([]transport.Endpoint, 3)); k != 2 {
		t.Errorf("got %d frames, want the 2 valid ones", k)
	}
	nowhere := transport.AddrPortEndpoint(netip.MustParseAddrPort("192.0.2.1:1"))
	fill(out, []int{60}, 0, frame.Meta{})
	if err := a.tr.Send(out, nowhere); err != nil {
		t.Fatal(err)
	}
	if s := a.tr.Stats(); s.Unreachable != 1 {
		t.Errorf("Unreachable = %d, want 1", s.Unreachable)
	}
}

func TestOpen(t *testing.T) {
	n := NewNetwork()
	addr := netip.MustParseAddrPort("10.0.0.1:6783")
	a := open(t, n, peerA, addr)
	if _, _, err := a.tr.Open(); err == nil {
		t.Error("second Open succeeded")
	}
	dup := n.NewTransport(peerB, addr)
	if _, _, err := dup.Open(); err == nil {
		t.Error("Open on a used address succeeded")
	}
	a.tr.Close()
	if _, _, err := a.tr.Open(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	// The address is free again.
	again := n.NewTransport(peerB, addr)
	if _, _, err := again.Open(); err != nil {
		t.Error(err)
	}
	again.Close()
	if _, err := a.tr.ParseEndpoint("10.0.0.9:1"); err != nil {
		t.Error(err)
	}
	if _, err := a.tr.ParseEndpoint("nonsense"); err == nil {
		t.Error("ParseEndpoint(nonsense) succeeded")
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	leakCheck(t)
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	errc := make(chan error, 1)
	go func() {
		_, err := a.recv(frame.NewBatch(4, transport.MaxOverhead), make([]transport.Endpoint, 4))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := a.tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.tr.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReceiveFunc after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the ReceiveFunc")
	}
	out := frame.NewBatch(1, transport.MaxOverhead)
	fill(out, []int{60}, 0, frame.Meta{})
	if err := a.tr.Send(out, a.ep); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	leakCheck(t)
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	const senders, batches = 4, 50
	done := make(chan struct{})
	var total uint64
	go func() {
		defer close(done)
		in := frame.NewBatch(16, transport.MaxOverhead)
		eps := make([]transport.Endpoint, 16)
		for {
			k, err := bn.recv(in, eps)
			if err != nil {
				return
			}
			total += uint64(k)
		}
	}()
	errc := make(chan error, senders)
	for range senders {
		go func() {
			out := frame.NewBatch(8, transport.MaxOverhead)
			fill(out, []int{60, 60, 60, 60, 60, 60, 60, 60}, 0, frame.Meta{})
			for range batches {
				if err := a.tr.Send(out, bn.ep); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range senders {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for bn.tr.Stats().Received+bn.tr.Stats().QueueDrops < senders*batches*8 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	bn.tr.Close()
	<-done
	s := bn.tr.Stats()
	if total != s.Received || s.Received+s.QueueDrops != senders*batches*8 {
		t.Errorf("received %d, stats %+v, want %d frames in all", total, s, senders*batches*8)
	}
}

func TestAllocs(t *testing.T) {
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	out := frame.NewBatch(BatchSize, transport.MaxOverhead)
	sizes := make([]int, BatchSize)
	for i := range sizes {
		sizes[i] = 1400
	}
	fill(out, sizes, 0, frame.Meta{Src: peerA})
	in := frame.NewBatch(BatchSize, transport.MaxOverhead)
	eps := make([]transport.Endpoint, BatchSize)
	roundTrip := func() {
		if err := a.tr.Send(out, bn.ep); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < BatchSize; {
			k, err := bn.recv(in, eps)
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
	}
	// Warm up every queue slot's buffer: the ring holds DefaultQueueLen frames.
	for range DefaultQueueLen/BatchSize + 1 {
		roundTrip()
	}
	allocs := testing.AllocsPerRun(100, roundTrip)
	if allocs != 0 {
		t.Errorf("Send+receive of %d frames: %v allocs, want 0", BatchSize, allocs)
	}
}

// The lifecycle every transport follows: a Transport that was never
// opened, or whose Open failed, closes cleanly and holds no address.
func TestCloseBeforeOpenAndAfterFailedOpen(t *testing.T) {
	leakCheck(t)
	n := NewNetwork()
	addr := netip.MustParseAddrPort("10.0.0.1:6783")
	never := n.NewTransport(peerA, addr)
	if err := never.Close(); err != nil {
		t.Fatal(err)
	}
	never.Close()
	a := open(t, n, peerA, addr) // the address was never taken
	failed := n.NewTransport(peerB, addr)
	if _, _, err := failed.Open(); err == nil {
		t.Fatal("Open on a used address succeeded")
	}
	if err := failed.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := n.NewTransport(peerB, addr).Open(); err == nil {
		t.Error("the failed Transport's Close released the address of another")
	}
	a.tr.Close()
}
