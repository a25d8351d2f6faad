package quictransport

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	quic "github.com/quic-go/quic-go"
	"golang.org/x/net/ipv4"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"github.com/weave-switch/weave-switch/transport"
)

// TestGROConnSplits sends runs of equal-size datagrams with UDP GSO (the
// kernel keeps such a run whole up to a UDP_GRO socket) and small single
// ones, and checks that ReadBatch hands out every datagram, in order, with
// its own size, bytes and sender, eight at most per call.
func TestGROConnSplits(t *testing.T) {
	rx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(loopback0))
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	pc := newGROConn(rx, newRxGate())
	c, ok := pc.(*groConn)
	if !ok {
		t.Skip("this kernel has no UDP_GRO: quic-go reads the socket itself")
	}
	tx, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(loopback0))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	var gso atomic.Bool
	gso.Store(true)
	w, err := udpbatch.NewWriter(tx, 64, &gso)
	if err != nil {
		t.Fatal(err)
	}
	// 3 runs: 20 x 1400 + a 700 tail, 1 x 60, 9 x 1200 (30 of them >= gateMinPacket).
	var want [][]byte
	send := func(sizes ...int) {
		var bufs [][]byte
		for _, n := range sizes {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(len(want) + i)
			}
			bufs = append(bufs, b)
			want = append(want, b)
		}
		if err := w.Write(bufs, rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	run := func(n, size int) []int {
		s := make([]int, n)
		for i := range s {
			s[i] = size
		}
		return s
	}
	send(append(run(20, 1400), 700)...)
	send(60)
	send(run(9, 1200)...)

	ms := make([]ipv4.Message, groBatch)
	for i := range ms {
		ms[i].Buffers = [][]byte{make([]byte, 1452)}
		ms[i].OOB = make([]byte, 128)
	}
	from := tx.LocalAddr().(*net.UDPAddr).AddrPort()
	rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	for got := 0; got < len(want); {
		n, err := c.ReadBatch(ms, 0)
		if err != nil {
			t.Fatalf("after %d of %d datagrams: %v", got, len(want), err)
		}
		if n < 1 || n > len(ms) {
			t.Fatalf("ReadBatch returned %d", n)
		}
		for _, m := range ms[:n] {
			if !bytes.Equal(m.Buffers[0][:m.N], want[got]) {
				t.Fatalf("datagram %d: got %d bytes, want %d (or different bytes)", got, m.N, len(want[got]))
			}
			if a := m.Addr.(*net.UDPAddr).AddrPort(); netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) != from {
				t.Fatalf("datagram %d from %v, want %v", got, a, from)
			}
			if m.Flags != 0 {
				t.Fatalf("datagram %d: flags %#x", got, m.Flags)
			}
			got++
		}
	}
	// The gate counted the datagrams of gateMinPacket bytes or more.
	if p := c.gate.pending.Load(); p != 30 {
		t.Errorf("gate pending = %d, want 30", p)
	}
}

// TestGateHoldsAndReleases checks the gate's arithmetic: ReadBatch may
// hand out a batch while the count leaves room for it, waits otherwise,
// and goes on as readers take datagrams.
func TestGateHoldsAndReleases(t *testing.T) {
	g := newRxGate()
	g.readers.Store(1) // one reader, busy (not idle): no stall reset
	g.handed(gateLimit - groBatch)
	g.wait(groBatch) // exactly room: no wait
	if g.waits.Load() != 0 {
		t.Fatal("waited with room for the batch")
	}
	g.handed(groBatch)
	done := make(chan struct{})
	go func() { g.wait(groBatch); close(done) }()
	// Small datagrams do not count: still held.
	for range 3 * groBatch {
		g.took(gateMinDatagram - 1)
	}
	select {
	case <-done:
		t.Fatal("released by datagrams below gateMinDatagram")
	case <-time.After(3 * gateStall):
	}
	if g.resets.Load() != 0 {
		t.Fatal("reset while a reader was busy")
	}
	for range groBatch {
		g.took(gateMinDatagram)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("still held after the reader took a batch")
	}
	if g.waits.Load() != 1 {
		t.Fatalf("waits = %d, want 1", g.waits.Load())
	}
	// Taking more than was handed does not go negative.
	for range 2 * gateLimit {
		g.took(1400)
	}
	if p := g.pending.Load(); p != 0 {
		t.Fatalf("pending = %d after over-taking, want 0", p)
	}
}

// TestGateStallReset: a count that drifted (packets that carried no
// datagram) is halved once every reader is idle and nothing moved for
// gateStall, so the socket reader never waits for ever.
func TestGateStallReset(t *testing.T) {
	g := newRxGate()
	g.readers.Store(1)
	g.idle.Store(1)
	g.handed(gateLimit)
	done := make(chan struct{})
	go func() { g.wait(groBatch); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a drifted count held the socket reader")
	}
	if g.resets.Load() != 1 || g.pending.Load() != gateLimit/2 {
		t.Fatalf("resets = %d, pending = %d; want 1, %d", g.resets.Load(), g.pending.Load(), gateLimit/2)
	}
}

// TestPollContext holds quic-go to what the readers rely on: with a
// context that is done but has no error, ReceiveDatagram returns (nil,
// nil) at once on an empty queue, a queued datagram if there is one, and
// the context's error once it is cancelled. A bare quic-go pair, so that
// no reader of ours competes for the queue.
func TestPollContext(t *testing.T) {
	cert, err := GenerateCert()
	if err != nil {
		t.Fatal(err)
	}
	qc := &quic.Config{EnableDatagrams: true}
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"poll"}}, qc)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client, err := quic.DialAddr(ctx, ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"poll"}}, qc) // test only: a throwaway pair on loopback
	if err != nil {
		t.Fatal(err)
	}
	defer client.CloseWithError(0, "")
	server, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	poll := &pollCtx{pctx}
	polled := make(chan error, 1)
	go func() {
		d, err := server.ReceiveDatagram(poll)
		if d != nil || err != nil {
			err = fmt.Errorf("empty queue: got %q, %v; want nil, nil", d, err)
		}
		polled <- err
	}()
	select {
	case err := <-polled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a hang, not a speed limit
		t.Fatal("the poll blocked on an empty queue")
	}
	if err := client.SendDatagram([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	var got []byte
	for deadline := time.Now().Add(5 * time.Second); got == nil && time.Now().Before(deadline); {
		d, err := server.ReceiveDatagram(poll)
		if err != nil {
			t.Fatal(err)
		}
		got = d
		time.Sleep(time.Millisecond)
	}
	if string(got) != "hello" {
		t.Fatalf("queued datagram: got %q, want hello", got)
	}
	pcancel()
	if _, err := server.ReceiveDatagram(poll); err == nil {
		t.Fatal("cancelled poll context: no error")
	}
}

// TestTwoSendersThroughGate: two peers send super-frames (each cut into
// ~48 datagrams) to one receiver at once, so that its gate holds quic-go's
// socket reader back with two readers taking datagrams. Every frame
// arrives whole and in order per sender, and nothing is stuck: a frame
// that does not arrive was counted as dropped.
func TestTwoSendersThroughGate(t *testing.T) {
	const nameC frame.PeerName = 0x020000000003
	a := newNode(t, nameA)
	senders := []*node{newNode(t, nameB), newNode(t, nameC)}
	for _, s := range senders {
		name := s.t.cfg.Self
		mustAdd(t, a, name, s.t.CertHash(), s.local)
		mustAdd(t, s, nameA, a.t.CertHash(), a.local)
		waitFor(t, "connection", func() bool { return a.t.PeerConnected(name) && s.t.PeerConnected(nameA) })
	}
	// Each sender sends its frames, then repeats a small end marker until
	// the receiver has one. Datagrams on one connection arrive in order,
	// so once both markers are in, every data frame has arrived or been
	// lost for good.
	const frames, size, marker = 40, 60000, 0xff
	var fenced [2]atomic.Bool
	errs := make(chan error, len(senders))
	for si, s := range senders {
		go func() {
			b := frame.NewBatchSize(1, transport.MaxOverhead, frame.MaxSuperFrameSize)
			send := func(n int, seq byte) error {
				b.Sizes[0], b.N = n, 1
				f := b.Frame(0)
				fill(f, seq)
				f[0], f[1] = byte(si), seq
				b.Meta[0] = frame.Meta{Src: s.t.cfg.Self, Dst: nameA}
				return s.t.Send(b, transport.AddrPortEndpoint(a.local))
			}
			for i := range frames {
				if err := send(size, byte(i)); err != nil {
					errs <- err
					return
				}
			}
			for !fenced[si].Load() {
				if err := send(100, marker); err != nil {
					errs <- err
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			errs <- nil
		}()
	}
	next := [2]int{}
	got := 0
	b := frame.NewBatchSize(8, transport.MaxOverhead, frame.MaxSuperFrameSize)
	eps := make([]transport.Endpoint, b.Cap())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !fenced[0].Load() || !fenced[1].Load() {
			k, err := a.recv(b, eps)
			if err != nil {
				return
			}
			for i := range k {
				f := b.Frame(i)
				si := f[0] & 1
				if f[1] == marker {
					fenced[si].Store(true)
					continue
				}
				want := make([]byte, size)
				fill(want, f[1])
				want[0], want[1] = f[0], f[1]
				if len(f) != size || !bytes.Equal(f, want) {
					t.Errorf("frame %d from sender %d: %d bytes, or different bytes", f[1], si, len(f))
				}
				if int(f[1]) < next[si] {
					t.Errorf("frame %d from sender %d after frame %d", f[1], si, next[si]-1)
				}
				next[si] = int(f[1]) + 1
				got++
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a hang, not a speed limit
		a.t.Close()
		<-done
		t.Fatalf("stuck: %d of %d frames, end markers %v %v (gate pending %d, waits %d, resets %d)", got, 2*frames,
			fenced[0].Load(), fenced[1].Load(), a.t.gate.pending.Load(), a.t.gate.waits.Load(), a.t.gate.resets.Load())
	}
	for range senders {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := a.t.Stats()
	dropped := st.DropQUICReceive + st.DropReassembly + st.DropQueueFull + st.DropMalformed + st.DropTooBig
	if got < 2*frames && dropped == 0 {
		t.Fatalf("%d of %d frames arrived and nothing was counted as dropped", got, 2*frames)
	}
	t.Logf("%d of %d frames arrived (quic-go dropped %d datagrams, reassembly %d); gate waits %d, resets %d",
		got, 2*frames, st.DropQUICReceive, st.DropReassembly, st.GateWaits, st.GateResets)
}
