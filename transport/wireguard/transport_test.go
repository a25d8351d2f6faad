package wireguard

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/transport"
)

const nameA, nameB frame.PeerName = 0x020000000001, 0x020000000002

func newT(t testing.TB, self frame.PeerName) *Transport {
	t.Helper()
	return newTWith(t, Config{Self: self})
}

// newTWith returns a Transport configured by cfg on 127.0.0.1, any port,
// with a new key, closed when t ends.
func newTWith(t testing.TB, cfg Config) *Transport {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.PrivateKey = netip.MustParseAddrPort("127.0.0.1:0"), k
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// newPair returns two opened Transports that are each other's peers, with
// their receive functions and endpoints, once their session is up.
//
// b, the larger name, leaves the first handshake to a: a's initiation,
// sent when a adds b, makes the session, and b answers it.
func newPair(t testing.TB) (a, b *Transport, ra, rb transport.ReceiveFunc, epA, epB transport.Endpoint) {
	t.Helper()
	a, b = newT(t, nameA), newT(t, nameB)
	fa, la, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	fb, lb, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(nameA, a.PublicKey(), la); err != nil {
		t.Fatal(err)
	}
	if err := a.AddPeer(nameB, b.PublicKey(), lb); err != nil {
		t.Fatal(err)
	}
	epA, epB = transport.AddrPortEndpoint(la), transport.AddrPortEndpoint(lb)
	linkUp(t, a, b, fb[0], nameA, nameB, epB)
	return a, b, fa[0], fb[0], epA, epB
}

// linkDeadline bounds the set-up's waits for a handshake and for frames
// that should arrive at once: a generous bound, so that a broken link
// fails with a message instead of hanging.
const linkDeadline = 60 * time.Second

// linkUp sends a frame from a (peer from) to b (peer to, at epB) every
// 100 ms until b's ReceiveFunc rb returns it: then the handshake
// completed on both sides (b decrypted data from a, which confirms the
// session to b if b answered the handshake). Frames sent before a's
// first handshake are dropped, or held by the device until it completes.
func linkUp(t testing.TB, a, b *Transport, rb transport.ReceiveFunc, from, to frame.PeerName, epB transport.Endpoint) {
	t.Helper()
	out := frame.NewBatch(1, transport.MaxOverhead)
	copy(out.Room(0), testFrame(60, 0xee))
	out.Sizes[0], out.Meta[0], out.N = 60, frame.Meta{Src: from, Dst: to}, 1
	got := make(chan error, 1)
	go func() {
		in := frame.NewBatch(8, transport.MaxOverhead)
		n, err := rb(in, make([]transport.Endpoint, 8))
		if err == nil && (n < 1 || !bytes.Equal(in.Frame(0), testFrame(60, 0xee))) {
			err = fmt.Errorf("received %d frames, not the one sent", n)
		}
		got <- err
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(linkDeadline)
	for {
		if err := a.Send(out, epB); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			return
		case <-deadline:
			b.Close() // ends the receive
			t.Fatalf("no frame from %v to %v after %v: no handshake; stats %+v, %+v", from, to, linkDeadline, a.stats.Snapshot(), b.stats.Snapshot())
		case <-tick.C:
		}
	}
}

func TestRoundTrip(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	a, b, _, rb, epA, epB := newPair(t)
	gso := frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1448, CsumStart: 34, CsumOffset: 16}
	// 8000 and a full super-frame go in pieces (a 1500-byte path).
	sizes := []int{60, 1400, 8000, frame.MaxSuperFrameSize}
	metas := []frame.Meta{{Src: nameA, Dst: nameB}, {Src: 0x020000000009}, {Src: nameA, Dst: nameB, GSO: gso}, {Src: nameA, Dst: nameB, GSO: gso}}
	out := frame.NewBatchSize(len(sizes), transport.MaxOverhead, frame.MaxSuperFrameSize)
	for i, n := range sizes {
		copy(out.Room(i), testFrame(n, byte(i)))
		out.Sizes[i], out.Meta[i] = n, metas[i]
	}
	out.N = len(sizes)
	in := frame.NewBatchSize(8, transport.MaxOverhead, frame.MaxSuperFrameSize)
	eps := make([]transport.Endpoint, 8)
	var seen [4]atomic.Bool
	all := func() bool { return seen[0].Load() && seen[1].Load() && seen[2].Load() && seen[3].Load() }
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !all() {
			n, err := rb(in, eps)
			if err != nil {
				t.Error(err)
				return
			}
			for i := range n {
				j := slices.Index(sizes, in.Sizes[i])
				if j < 0 || !bytes.Equal(in.Frame(i), testFrame(sizes[j], byte(j))) {
					t.Errorf("received a %d-byte frame that was not sent", in.Sizes[i])
					continue
				}
				want := metas[j]
				want.Via = nameA
				if in.Meta[i] != want || eps[i].DstAddrPort() != epA.DstAddrPort() {
					t.Errorf("frame %d: meta %+v from %v, want %+v from %v", j, in.Meta[i], eps[i], want, epA)
				}
				seen[j].Store(true)
			}
		}
	}()
	if err := a.Send(out, epB); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(linkDeadline):
		b.Close() // ends the receive
		<-done
		t.Fatalf("received %v of the %d frames; stats %+v", []bool{seen[0].Load(), seen[1].Load(), seen[2].Load(), seen[3].Load()}, len(sizes), b.stats.Snapshot())
	}
	if h, err := a.ipcGetInt("last_handshake_time_sec"); err != nil || h == 0 {
		t.Errorf("last_handshake_time_sec = %d, %v", h, err)
	}
	// Loopback's MTU is 65536: the kernel's path MTU is above the
	// assumed 1500, so 1500 stands and the big frames went in pieces.
	if m := a.PathMTU(nameB); m != 1500 {
		t.Errorf("PathMTU = %d, want 1500", m)
	}
	if a.stats.TxFragments.Load() < uint64(frame.MaxSuperFrameSize/PacketSize(1500, false)) || b.stats.Reassembled.Load() < 2 {
		t.Errorf("%d pieces sent, %d frames reassembled", a.stats.TxFragments.Load(), b.stats.Reassembled.Load())
	}
	// Errors: unknown endpoint, frame too big.
	if err := a.Send(out, transport.AddrPortEndpoint(netip.MustParseAddrPort("127.0.0.1:9"))); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("send to unknown endpoint: %v", err)
	}
	big := frame.NewBatchSize(1, transport.MaxOverhead, MaxFrameSize+1)
	big.Sizes[0], big.N = MaxFrameSize+1, 1
	if err := a.Send(big, epB); !errors.Is(err, ErrFrameTooBig) {
		t.Errorf("send of a too big frame: %v", err)
	}
}

func TestCloseUnblocksReceive(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	a := newT(t, nameA)
	fns, _, err := a.Open()
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() {
		_, err := fns[0](frame.NewBatch(1, transport.MaxOverhead), make([]transport.Endpoint, 1))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("receive after Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock the ReceiveFunc")
	}
	b := frame.NewBatch(1, transport.MaxOverhead)
	b.N = 1
	if err := a.Send(b, transport.AddrPortEndpoint(netip.MustParseAddrPort("127.0.0.1:1"))); !errors.Is(err, net.ErrClosed) {
		t.Errorf("send after Close: %v", err)
	}
	if _, _, err := a.Open(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("open after Close: %v", err)
	}
}

func TestConfigAndKeys(t *testing.T) {
	if _, err := New(Config{PrivateKey: [32]byte{1}}); err == nil {
		t.Error("New accepted a config without Self")
	}
	if _, err := New(Config{Self: 1}); err == nil {
		t.Error("New accepted a config without a key")
	}
	p := filepath.Join(t.TempDir(), "wg.key")
	k1, err := LoadOrCreateKey(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreateKey(p)
	if err != nil || k1 != k2 || k1 == ([32]byte{}) {
		t.Fatalf("LoadOrCreateKey not stable: %v", err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi.Mode(), err)
	}
	if b, _ := os.ReadFile(p); !strings.HasSuffix(string(b), "=\n") {
		t.Errorf("key file is not base64: %q", b)
	}
	// Concurrent creators agree on one key and leave no temporary file.
	p2 := filepath.Join(t.TempDir(), "wg.key")
	keys := make([][32]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(p2)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k != keys[0] {
			t.Fatal("concurrent LoadOrCreateKey returned different keys")
		}
	}
	if es, _ := os.ReadDir(filepath.Dir(p2)); len(es) != 1 {
		t.Errorf("key dir holds %v, want only the key", es)
	}
	if tr := newT(t, nameA); tr.Overhead() != 139 || tr.BatchSize() < 1 {
		t.Errorf("Overhead = %d, BatchSize = %d", tr.Overhead(), tr.BatchSize())
	}
}

// BenchmarkRoundTrip sends batches of 1400-byte frames from a to b over
// loopback and waits for them: frames through two wireguard-go devices.
func BenchmarkRoundTrip(b *testing.B) { benchRoundTrip(b, 1400, 32) }

// BenchmarkRoundTripSuper sends 64 KiB super-frames, 4 per batch: each
// goes in pieces that fit a 1500-byte path and is put back together.
func BenchmarkRoundTripSuper(b *testing.B) { benchRoundTrip(b, frame.MaxSuperFrameSize, 4) }

func benchRoundTrip(b *testing.B, size, batch int) {
	ta, tb, _, rb, _, epB := newPair(b)
	out := frame.NewBatchSize(batch, transport.MaxOverhead, size)
	for i := range batch {
		copy(out.Room(i), testFrame(size, byte(i)))
		out.Sizes[i], out.Meta[i] = size, frame.Meta{Src: nameA, Dst: nameB}
	}
	out.N = batch
	in := frame.NewBatchSize(128, transport.MaxOverhead, size)
	eps := make([]transport.Endpoint, 128)
	recvd := make(chan int, 1024)
	go func() {
		defer close(recvd)
		for {
			n, err := rb(in, eps)
			if err != nil {
				return
			}
			recvd <- n
		}
	}()
	b.Cleanup(func() { tb.Close() })
	// sent counts the frames sent, delivered those received, settled
	// those received or written off as lost: frames still in flight when
	// nothing arrived for lossWait (UDP may drop a few on a busy machine).
	// So the loop never blocks for good; what a broken link loses shows in
	// the delivered/frame metric, and a run that delivered nothing fails.
	const lossWait = time.Second
	sent, delivered, settled := 0, 0, 0
	timer := time.NewTimer(lossWait)
	defer timer.Stop()
	wait := func() {
		timer.Reset(lossWait)
		select {
		case n, ok := <-recvd:
			if !ok {
				b.Fatalf("the receive ended: %d of %d frames delivered", delivered, sent)
			}
			delivered += n
			settled += n
		case <-timer.C:
			settled = sent
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += batch {
		if err := ta.Send(out, epB); err != nil {
			b.Fatal(err)
		}
		sent += batch
		// Keep at most a few batches in flight so the queues do not drop.
		for settled < sent-4*batch {
			wait()
		}
	}
	for settled < sent {
		wait()
	}
	b.StopTimer()
	if delivered == 0 {
		b.Fatalf("no frame delivered of %d sent; stats %+v, %+v", sent, ta.stats.Snapshot(), tb.stats.Snapshot())
	}
	if delivered < sent {
		b.Logf("lost %d of %d frames", sent-delivered, sent)
	}
	b.ReportMetric(float64(delivered)/time.Since(start).Seconds(), "frames/s")
	b.ReportMetric(float64(delivered)/float64(sent), "delivered/frame")
}
