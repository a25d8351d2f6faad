package sleeve

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

var loopback = netip.MustParseAddrPort("127.0.0.1:0")

type end struct {
	s    *Sleeve
	recv transport.ReceiveFunc
	addr netip.AddrPort
	ep   transport.Endpoint
}

// openSleeve opens a sleeve on 127.0.0.1:0 unless cfg says otherwise.
func openSleeve(t testing.TB, cfg Config) *end {
	t.Helper()
	return openSleeveClock(t, cfg, nil)
}

// openSleeveClock is openSleeve with the sleeve's clock (reassembly
// timeouts, rekey grace) injected, if clk is not nil.
func openSleeveClock(t testing.TB, cfg Config, clk *fakeClock) *end {
	t.Helper()
	if !cfg.Listen.IsValid() {
		cfg.Listen = loopback
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if clk != nil {
		s.now = clk.now
	}
	fns, local, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if len(fns) != 1 {
		t.Fatalf("got %d ReceiveFuncs", len(fns))
	}
	if local.Addr().IsUnspecified() {
		local = netip.AddrPortFrom(netip.IPv6Loopback(), local.Port())
	}
	return &end{s: s, recv: fns[0], addr: local, ep: transport.AddrPortEndpoint(local)}
}

// makeBatch returns a batch of frames of the given sizes, each filled with
// a pattern, from peerA to peerB or flooded, with buffers of
// frame.MaxFrameSize or the biggest size.
func makeBatch(sizes []int) *frame.Batch {
	room := frame.MaxFrameSize
	for _, size := range sizes {
		room = max(room, size)
	}
	b := frame.NewBatchSize(max(len(sizes), 1), transport.MaxOverhead, room)
	b.N = len(sizes)
	for i, size := range sizes {
		b.Sizes[i] = size
		b.Meta[i] = frame.Meta{Src: peerA, Dst: peerB}
		if i%3 == 2 {
			b.Meta[i].Dst = frame.UnknownPeer
		}
		copy(b.Frame(i), testFrame(size, byte(i)))
	}
	return b
}

func repeat(n, size int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = size
	}
	return s
}

type received struct {
	frames [][]byte
	metas  []frame.Meta
	eps    []transport.Endpoint
}

// receiveN calls e's ReceiveFunc with b until n frames arrived, failing
// after 5 s without progress.
func (e *end) receiveN(t testing.TB, b *frame.Batch, n int) received {
	t.Helper()
	eps := make([]transport.Endpoint, b.Cap())
	var r received
	for len(r.frames) < n {
		e.s.sock.Load().conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		k, err := e.recv(b, eps)
		if err != nil {
			t.Fatalf("after %d of %d frames: %v", len(r.frames), n, err)
		}
		if k != b.N || k == 0 || k > b.Cap() {
			t.Fatalf("ReceiveFunc returned %d, b.N = %d, cap %d", k, b.N, b.Cap())
		}
		for i := range k {
			r.frames = append(r.frames, bytes.Clone(b.Frame(i)))
			r.metas = append(r.metas, b.Meta[i])
			r.eps = append(r.eps, eps[i])
		}
	}
	if len(r.frames) != n {
		t.Fatalf("received %d frames, want %d", len(r.frames), n)
	}
	return r
}

// checkReceived compares what arrived with what was sent.
func checkReceived(t *testing.T, r received, sent *frame.Batch, from *end) {
	t.Helper()
	for i := range sent.N {
		if !bytes.Equal(r.frames[i], sent.Frame(i)) {
			t.Fatalf("frame %d: got %d bytes %x..., want %d bytes", i, len(r.frames[i]), r.frames[i][:min(8, len(r.frames[i]))], sent.Sizes[i])
		}
		want := sent.Meta[i]
		want.Via = from.s.cfg.Self
		want.Authenticated = from.s.cfg.Encrypt // the receiver encrypts too
		if r.metas[i] != want {
			t.Errorf("frame %d: meta %+v, want %+v", i, r.metas[i], want)
		}
		if r.eps[i] != from.ep {
			t.Errorf("frame %d: endpoint %v, want %v", i, r.eps[i], from.ep)
		}
	}
}

func TestSendReceive(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})
	// UnderlayMTU 1500: datagrams up to 1472 bytes, so one frame up to
	// 1450 bytes and k frames of s bytes while 8 + k*(14+s) <= 1472. A
	// bigger frame goes in fragments of 1472 - 8 - 24 = 1440 bytes.
	tests := []struct {
		name      string
		sizes     []int
		datagrams uint64
	}{
		{"one small", []int{60}, 1},
		{"one at the limit", []int{1450}, 1},
		{"one past the limit, in two fragments", []int{1451}, 2},
		{"largest frame, fragmented", []int{frame.MaxFrameSize}, 7},
		{"super-frame, fragmented", []int{frame.MaxSuperFrameSize}, 46},
		{"runt-sized", []int{14}, 1},
		{"two filling the limit", []int{718, 718}, 1},
		{"two one byte over the limit", []int{718, 719}, 2},
		{"many small packed", repeat(19, 60), 1},
		{"twenty small", repeat(20, 60), 2},
		{"full batch of 64-byte frames", repeat(128, 64), 8}, // 18 per datagram
		{"full batch of 1400-byte frames", repeat(128, 1400), 128},
		{"mixed", []int{1400, 60, 60, 1400, frame.MaxFrameSize, 14}, 11},
	}
	in := frame.NewBatchSize(128, transport.MaxOverhead, frame.MaxSuperFrameSize)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := makeBatch(tt.sizes)
			before := a.s.Stats()
			if err := a.s.Send(out, b.ep); err != nil {
				t.Fatal(err)
			}
			after := a.s.Stats()
			if got := after.SentDatagrams - before.SentDatagrams; got != tt.datagrams {
				t.Errorf("sent %d datagrams, want %d", got, tt.datagrams)
			}
			if got := after.SentFrames - before.SentFrames; got != uint64(len(tt.sizes)) {
				t.Errorf("sent %d frames, want %d", got, len(tt.sizes))
			}
			r := b.receiveN(t, in, len(tt.sizes))
			checkReceived(t, r, out, a)
			// Send left the frames intact (headers went in the headroom).
			fresh := makeBatch(tt.sizes)
			for i := range out.N {
				if !bytes.Equal(out.Frame(i), fresh.Frame(i)) {
					t.Fatalf("Send modified frame %d", i)
				}
			}
		})
	}
	if s := b.s.Stats(); s.DroppedTotal() != 0 {
		t.Errorf("receiver dropped %v", s.Dropped)
	}
}

func TestJumboUnderlay(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA, UnderlayMTU: 9000})
	b := openSleeve(t, Config{Self: peerB})
	out := makeBatch(repeat(12, 700)) // 8 + 12*714 = 8576 <= 8972
	if err := a.s.Send(out, b.ep); err != nil {
		t.Fatal(err)
	}
	if n := a.s.Stats().SentDatagrams; n != 1 {
		t.Errorf("sent %d datagrams, want 1", n)
	}
	checkReceived(t, b.receiveN(t, frame.NewBatch(16, transport.MaxOverhead), 12), out, a)
}

func TestLeftovers(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})
	// Three datagrams: 10 packed frames, one big frame, 5 packed frames.
	sizes := append(append(repeat(10, 100), 1450), repeat(5, 200)...)
	out := makeBatch(sizes)
	if err := a.s.Send(out, b.ep); err != nil {
		t.Fatal(err)
	}
	if n := a.s.Stats().SentDatagrams; n != 3 {
		t.Fatalf("sent %d datagrams, want 3", n)
	}
	// A receive batch of 3: the leftovers come out on the next calls, in order.
	small := frame.NewBatch(3, transport.MaxOverhead)
	r := b.receiveN(t, small, len(sizes))
	checkReceived(t, r, out, a)
	if s := b.s.Stats(); s.ReceivedDatagrams != 3 || s.ReceivedFrames != uint64(len(sizes)) {
		t.Errorf("receiver stats %+v", s)
	}
	// eps shorter than the batch bounds it too.
	if err := a.s.Send(makeBatch(repeat(4, 60)), b.ep); err != nil {
		t.Fatal(err)
	}
	b.s.sock.Load().conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if k, err := b.recv(frame.NewBatch(4, transport.MaxOverhead), make([]transport.Endpoint, 1)); k != 1 || err != nil {
		t.Fatalf("with one endpoint slot: %d, %v", k, err)
	}
}

func TestMalformed(t *testing.T) {
	rec := &logRecorder{}
	b := openSleeve(t, Config{Self: peerB, Logger: rec.logger()})
	raw, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	valid := encode(peerA, []decoded{{frame.Meta{Src: peerA, Dst: peerB}, testFrame(60, 9)}})
	flags := bytes.Clone(valid)
	flags[1] = 0x80
	past := bytes.Clone(valid)
	past[HeaderSize+13]++ // length 61 in a 60-byte frame
	zero := bytes.Clone(valid)
	zero[HeaderSize+12], zero[HeaderSize+13] = 0, 0
	oversize := encode(peerA, []decoded{{frame.Meta{}, testFrame(frame.MaxFrameSize, 0)}})
	oversize = append(oversize, 0) // one byte more than MaxDatagramSize
	garbage := []struct {
		dgram  []byte
		reason DropReason
	}{
		{[]byte{1, 0, 2}, DropShort},
		{append([]byte{7}, valid[1:]...), DropVersion},
		{flags, DropFlags},
		{valid[:HeaderSize], DropNoFrames},
		{valid[:HeaderSize+5], DropFrameHeader},
		{zero, DropFrameLength},
		{past, DropTruncated},
		{oversize, DropOversize},
	}
	for _, g := range garbage {
		if _, err := raw.Write(g.dgram); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := raw.Write(valid); err != nil {
		t.Fatal(err)
	}
	r := b.receiveN(t, frame.NewBatch(8, transport.MaxOverhead), 1)
	if !bytes.Equal(r.frames[0], testFrame(60, 9)) || r.metas[0] != (frame.Meta{Src: peerA, Dst: peerB, Via: peerA}) {
		t.Errorf("valid frame after garbage: %+v", r.metas[0])
	}
	s := b.s.Stats()
	for _, g := range garbage {
		if s.Dropped[g.reason] != 1 {
			t.Errorf("Dropped[%v] = %d, want 1", g.reason, s.Dropped[g.reason])
		}
	}
	if s.ReceivedDatagrams != uint64(len(garbage)+1) || s.ReceivedFrames != 1 {
		t.Errorf("stats %+v", s)
	}
	if logs := rec.lines(); len(logs) != len(garbage) || !strings.Contains(logs[0], "shorter than") {
		t.Errorf("logs: %q", logs)
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA})
	errc := make(chan error, 1)
	go func() {
		_, err := a.recv(frame.NewBatch(4, transport.MaxOverhead), make([]transport.Endpoint, 4))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := a.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReceiveFunc after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the ReceiveFunc")
	}
	if _, err := a.recv(frame.NewBatch(4, transport.MaxOverhead), make([]transport.Endpoint, 4)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReceiveFunc called after Close: %v", err)
	}
	if err := a.s.Send(makeBatch([]int{60}), a.ep); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close: %v", err)
	}
	if _, _, err := a.s.Open(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})

	// A bad frame is skipped, the others go.
	out := makeBatch([]int{60, 13, 70})
	err := a.s.Send(out, b.ep)
	var oe *transport.OpError
	if !errors.As(err, &oe) || oe.Op != "send" || oe.Transport != "sleeve" || !strings.Contains(err.Error(), "frame 1: size 13") {
		t.Fatalf("Send with a 13-byte frame: %v", err)
	}
	r := b.receiveN(t, frame.NewBatch(4, transport.MaxOverhead), 2)
	if len(r.frames[0]) != 60 || len(r.frames[1]) != 70 {
		t.Errorf("got frames of %d and %d bytes", len(r.frames[0]), len(r.frames[1]))
	}

	small := frame.NewBatch(1, HeaderSize+FrameHeaderSize-1)
	small.N, small.Sizes[0] = 1, 60
	if err := a.s.Send(small, b.ep); err == nil || !strings.Contains(err.Error(), "headroom") {
		t.Errorf("Send with too little headroom: %v", err)
	}

	if _, _, err := a.s.Open(); err == nil {
		t.Error("second Open succeeded")
	}
	unopened, err := New(Config{Self: peerC, Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	if err := unopened.Send(makeBatch([]int{60}), b.ep); !errors.As(err, &oe) {
		t.Errorf("Send before Open: %v", err)
	}
	if err := unopened.Close(); err != nil {
		t.Error(err)
	}

	// A socket error: an IPv6 destination on an IPv4 socket.
	v6 := transport.AddrPortEndpoint(netip.MustParseAddrPort("[::1]:9"))
	if err := a.s.Send(makeBatch([]int{60}), v6); !errors.As(err, &oe) {
		t.Errorf("Send to IPv6 on an IPv4 socket: %v", err)
	}
}

func TestDualStack(t *testing.T) {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skip("no IPv6:", err)
	}
	c.Close()
	a := openSleeve(t, Config{Self: peerA, Listen: netip.MustParseAddrPort("[::]:0")})
	b := openSleeve(t, Config{Self: peerB})
	if a.s.Overhead() != 80 || b.s.Overhead() != 60 {
		t.Errorf("Overhead: dual-stack %d, IPv4 %d", a.s.Overhead(), b.s.Overhead())
	}
	// IPv4 to the dual-stack socket: the sender appears unmapped.
	a4 := &end{s: a.s, ep: transport.AddrPortEndpoint(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), a.addr.Port()))}
	out := makeBatch(repeat(3, 100))
	if err := b.s.Send(out, a4.ep); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, a.receiveN(t, frame.NewBatch(8, transport.MaxOverhead), 3), out, b)
	// And back, from the dual-stack socket to an IPv4 address.
	out = makeBatch(repeat(3, 100))
	if err := a.s.Send(out, b.ep); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, b.receiveN(t, frame.NewBatch(8, transport.MaxOverhead), 3), out, a4)
	// IPv6 both ways.
	a6 := openSleeve(t, Config{Self: peerC, Listen: netip.MustParseAddrPort("[::1]:0")})
	out = makeBatch([]int{1000, 60})
	if err := a.s.Send(out, a6.ep); err != nil {
		t.Fatal(err)
	}
	r := a6.receiveN(t, frame.NewBatch(8, transport.MaxOverhead), 2)
	if r.eps[0].DstAddrPort().Port() != a.addr.Port() || r.metas[1].Via != peerA {
		t.Errorf("IPv6: from %v, meta %+v", r.eps[0], r.metas[1])
	}
}

func TestConcurrentSend(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})
	const senders, batches, perBatch = 4, 20, 16
	var wg sync.WaitGroup
	errc := make(chan error, senders)
	for i := range senders {
		wg.Go(func() {
			out := makeBatch(repeat(perBatch, 100+i))
			for range batches {
				if err := a.s.Send(out, b.ep); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	r := b.receiveN(t, frame.NewBatch(64, transport.MaxOverhead), senders*batches*perBatch)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	// Frames of one batch arrive in order and uncorrupted.
	next := map[int]int{}
	for i, f := range r.frames {
		want := testFrame(len(f), byte(next[len(f)]%perBatch))
		if !bytes.Equal(f, want) {
			t.Fatalf("frame %d (%d bytes) corrupted or out of order", i, len(f))
		}
		next[len(f)]++
	}
}

func TestSocketBuffers(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA})
	s := a.s.Stats()
	t.Logf("socket buffers: rcv %d, snd %d", s.RecvBuffer, s.SendBuffer)
	if os.Geteuid() == 0 && (s.RecvBuffer < DefaultSocketBuffer || s.SendBuffer < DefaultSocketBuffer) {
		t.Errorf("as root, buffers rcv %d snd %d, want >= %d", s.RecvBuffer, s.SendBuffer, DefaultSocketBuffer)
	}
	kept := openSleeve(t, Config{Self: peerA, SocketBuffer: -1})
	t.Logf("kernel default buffers: rcv %d, snd %d", kept.s.Stats().RecvBuffer, kept.s.Stats().SendBuffer)
}

// logRecorder collects the lines of a text slog.Logger at every level.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(r, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func (r *logRecorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.buf.Len() == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(r.buf.String(), "\n"), "\n")
}

// The receive buffers hold pages on demand: a burst writes to all of
// them, and two quiet periods later only the minimum keep theirs.
func TestReceiveBuffersOnDemand(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA})
	clk := &fakeClock{t: time.Unix(1000, 0)}
	s, err := New(Config{Self: peerB, Listen: loopback})
	if err != nil {
		t.Fatal(err)
	}
	s.now = clk.now
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetReadBuffer(1 << 20); err != nil {
		t.Fatal(err)
	}
	r, err := newReceiver(s, conn, false, s.now)
	if err != nil {
		t.Fatal(err)
	}
	ep := transport.AddrPortEndpoint(conn.LocalAddr().(*net.UDPAddr).AddrPort())
	b := frame.NewBatchSize(s.cfg.BatchSize, transport.MaxOverhead, frame.MaxFrameSize)
	eps := make([]transport.Endpoint, b.Cap())
	// exchange sends n datagrams of one frame each, then reads them.
	exchange := func(n int) {
		t.Helper()
		for range n {
			if err := a.s.Send(makeBatch([]int{1000}), ep); err != nil {
				t.Fatal(err)
			}
		}
		for got := 0; got < n; {
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			k, err := r.receive(b, eps)
			if err != nil {
				t.Fatalf("after %d of %d frames: %v", got, n, err)
			}
			got += k
		}
	}
	if d := r.mem.Dirty(); d != 0 {
		t.Fatalf("a new receiver has written to %d buffers", d)
	}
	// 100 datagrams queued: every read is offered all the buffers, and
	// one read takes them all.
	burst := min(100, r.mem.Len())
	exchange(100)
	if d := r.mem.Dirty(); d != burst {
		t.Errorf("after a burst of 100: %d buffers hold pages, want %d", d, burst)
	}
	// The next period still keeps what the last one needed.
	clk.advance(recvEpoch)
	exchange(1)
	if d := r.mem.Dirty(); d != burst {
		t.Errorf("one period after the burst: %d buffers hold pages, want %d", d, burst)
	}
	// The one after keeps what single datagrams need.
	clk.advance(recvEpoch)
	exchange(1)
	if d := r.mem.Dirty(); d != minRecvBufs {
		t.Errorf("two periods after the burst: %d buffers hold pages, want %d", d, minRecvBufs)
	}
	// Once the sleeve is closed the receiver unmaps its buffers.
	s.Close()
	if _, err := r.receive(b, eps); !errors.Is(err, transport.ErrClosed) {
		t.Fatalf("receive after Close: %v, want ErrClosed", err)
	}
	if r.mem.Len() != 0 {
		t.Fatal("the receive buffers are still mapped after Close")
	}
}
