package sleeve

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Offload information as a TAP with IFF_VNET_HDR reports it.
var (
	csumOnly = frame.GSO{Flags: frame.GSOFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}
	tcp4GSO  = frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1374, CsumStart: 34, CsumOffset: 16}
)

// withGSO gives the frames of b offload information: super-frames (above
// frame.MaxFrameSize) a TCPv4 GSO descriptor, other frames at odd indexes
// a partial checksum. It returns b.
func withGSO(b *frame.Batch) *frame.Batch {
	for i := range b.N {
		switch {
		case b.Sizes[i] > frame.MaxFrameSize:
			b.Meta[i].GSO = tcp4GSO
		case i%2 == 1:
			b.Meta[i].GSO = csumOnly
		}
	}
	return b
}

func superBatch() *frame.Batch {
	return frame.NewBatchSize(64, transport.MaxOverhead, frame.MaxSuperFrameSize)
}

var offloadModes = []struct {
	name         string
	noGSO, noGRO bool
}{
	{"gso+gro", false, false},
	{"no-gso", true, false},
	{"no-gro", false, true},
	{"neither", true, true},
}

func TestSuperFrames(t *testing.T) {
	const big = frame.MaxSuperFrameSize
	batches := []struct {
		name  string
		sizes []int
	}{
		{"one 64 KiB super-frame", []int{big}},
		{"four super-frames", []int{big, 65000, 30000, big}},
		{"interleaved with small frames", []int{60, big, 60, 60, 40000, 1400, 9000, big, 14, 1450, 1451}},
	}
	for _, m := range offloadModes {
		t.Run(m.name, func(t *testing.T) {
			leakCheck(t)
			a := openSleeve(t, Config{Self: peerA, noGSO: m.noGSO})
			b := openSleeve(t, Config{Self: peerB, noGRO: m.noGRO})
			as, bs := a.s.Stats(), b.s.Stats()
			if (m.noGSO && as.GSO) || (m.noGRO && bs.GRO) {
				t.Fatalf("knobs ignored: GSO %v, GRO %v", as.GSO, bs.GRO)
			}
			t.Logf("sender GSO %v, receiver GRO %v", as.GSO, bs.GRO)
			in := superBatch()
			for _, bt := range batches {
				out := withGSO(makeBatch(bt.sizes))
				if err := a.s.Send(out, b.ep); err != nil {
					t.Fatalf("%s: %v", bt.name, err)
				}
				checkReceived(t, b.receiveN(t, in, out.N), out, a)
			}
			as, bs = a.s.Stats(), b.s.Stats()
			t.Logf("sender: %d datagrams, %d fragments, %d GSO sends; receiver: %d datagrams, %d GRO receives, %d reassembled",
				as.SentDatagrams, as.SentFragments, as.GSOSends, bs.ReceivedDatagrams, bs.GROReceives, bs.Reassembled)
			if as.GSO && as.GSOSends == 0 {
				t.Error("GSO on and no GSO send")
			}
			if !as.GSO && as.GSOSends != 0 {
				t.Error("GSO off and GSO sends")
			}
			if as.GSOErrors != 0 {
				t.Errorf("%d GSO sends refused", as.GSOErrors)
			}
			if as.GSO && bs.GRO && bs.GROReceives == 0 {
				t.Error("GSO sender, GRO receiver on loopback, and no GRO receive")
			}
			if bs.DroppedTotal() != 0 || bs.FrameDrops != [NumFrameDrops]uint64{} {
				t.Errorf("receiver dropped %v, %v", bs.Dropped, bs.FrameDrops)
			}
			if as.SentDatagrams != bs.ReceivedDatagrams || as.SentFrames != bs.ReceivedFrames || as.SentFragments != bs.ReceivedFragments {
				t.Errorf("sent %d datagrams %d frames %d fragments, received %d %d %d", as.SentDatagrams, as.SentFrames,
					as.SentFragments, bs.ReceivedDatagrams, bs.ReceivedFrames, bs.ReceivedFragments)
			}
		})
	}
}

// TestWireFlags reads what Send puts on the wire with a plain socket.
func TestWireFlags(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA})
	raw, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	dst := transport.AddrPortEndpoint(raw.LocalAddr().(*net.UDPAddr).AddrPort())
	read := func() []byte {
		t.Helper()
		buf := make([]byte, 1<<16)
		raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := raw.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}
	tests := []struct {
		name  string
		sizes []int
		gso   []frame.GSO
		want  []int  // datagram sizes
		flags []byte // and flags
	}{
		{"packed, no offload: compact", []int{60, 60}, nil, []int{8 + 2*74}, []byte{0}},
		{"packed, one partial checksum", []int{60, 60}, []frame.GSO{{}, csumOnly}, []int{8 + 2*84}, []byte{FlagGSO}},
		{"alone, in place", []int{1440}, []frame.GSO{csumOnly}, []int{1472}, []byte{FlagGSO}},
		{"alone, no offload", []int{1450}, nil, []int{1472}, []byte{0}},
		{"fragments", []int{2000}, nil, []int{1472, 8 + 24 + 2000 - 1440}, []byte{FlagFragment, FlagFragment}},
		{"fragments with GSO", []int{2000}, []frame.GSO{tcp4GSO}, []int{1472, 8 + 34 + 2000 - 1430},
			[]byte{FlagFragment | FlagGSO, FlagFragment | FlagGSO}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := makeBatch(tt.sizes)
			for i, g := range tt.gso {
				out.Meta[i].GSO = g
			}
			if err := a.s.Send(out, dst); err != nil {
				t.Fatal(err)
			}
			var r Reader
			for i, size := range tt.want {
				d := read()
				if len(d) != size || d[1] != tt.flags[i] {
					t.Fatalf("datagram %d: %d bytes, flags %#x; want %d, %#x", i, len(d), d[1], size, tt.flags[i])
				}
				if err := r.Reset(d); err != nil {
					t.Fatal(err)
				}
				if f, ok := r.Fragment(); ok {
					if f.Meta.GSO != out.Meta[0].GSO || f.Total != out.Sizes[0] {
						t.Errorf("fragment %+v", f)
					}
					continue
				}
				for k := 0; r.More(); k++ {
					meta, fr, _ := r.Next()
					if meta.GSO != out.Meta[k].GSO || !bytes.Equal(fr, out.Frame(k)) {
						t.Errorf("frame %d: GSO %+v", k, meta.GSO)
					}
				}
			}
		})
	}
}

func TestReceiveBatchTooSmall(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})
	out := withGSO(makeBatch([]int{60, 20000, 70}))
	if err := a.s.Send(out, b.ep); err != nil {
		t.Fatal(err)
	}
	// frame.NewBatch has room for frame.MaxFrameSize: the super-frame is
	// dropped and counted, the others arrive.
	r := b.receiveN(t, frame.NewBatch(8, transport.MaxOverhead), 2)
	if len(r.frames[0]) != 60 || len(r.frames[1]) != 70 || r.metas[1].GSO != out.Meta[2].GSO {
		t.Errorf("got frames of %d and %d bytes", len(r.frames[0]), len(r.frames[1]))
	}
	if n := b.s.Stats().FrameDrops[FrameDropTooBig]; n != 1 {
		t.Errorf("FrameDrops[too-big] = %d, want 1", n)
	}
}

func TestConcurrentSuperFrames(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA})
	b := openSleeve(t, Config{Self: peerB})
	const senders, batches = 4, 8
	var wg sync.WaitGroup
	errc := make(chan error, senders)
	for i := range senders {
		wg.Go(func() {
			out := withGSO(makeBatch([]int{30000 + i, 100 + i}))
			for range batches {
				if err := a.s.Send(out, b.ep); err != nil {
					errc <- err
					return
				}
				time.Sleep(time.Millisecond) // stay within the socket buffer
			}
		})
	}
	r := b.receiveN(t, superBatch(), senders*batches*2)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for i, f := range r.frames {
		seed := byte(0)
		if len(f) < 1000 {
			seed = 1
		}
		if !bytes.Equal(f, testFrame(len(f), seed)) {
			t.Fatalf("frame %d (%d bytes) corrupted", i, len(f))
		}
	}
}

// TestFragmentDatagramsFromAnyOrder sends hand-made fragments in reverse
// over a plain socket, with a duplicate and garbage in between.
func TestFragmentDatagramsFromAnyOrder(t *testing.T) {
	b := openSleeve(t, Config{Self: peerB})
	raw, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(b.addr))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fr := testFrame(5000, 3)
	meta := frame.Meta{Src: peerA, Dst: peerB, GSO: tcp4GSO}
	fs := cut(fr, 1200, 42, meta)
	bad := AppendFragment(nil, peerA, &Fragment{Meta: meta, ID: 43, Offset: 100, Total: 50, Data: []byte{1}})
	for i := len(fs) - 1; i >= 0; i-- {
		if _, err := raw.Write(AppendFragment(nil, peerA, &fs[i])); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			raw.Write(AppendFragment(nil, peerA, &fs[i]))
			raw.Write(bad)
		}
	}
	r := b.receiveN(t, superBatch(), 1)
	meta.Via = peerA
	if !bytes.Equal(r.frames[0], fr) || r.metas[0] != meta {
		t.Fatalf("got %d bytes, meta %+v", len(r.frames[0]), r.metas[0])
	}
	s := b.s.Stats()
	if s.FrameDrops[FrameDropDuplicate] != 1 || s.Dropped[DropFragmentRange] != 1 || s.Reassembled != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestFragmentSizes(t *testing.T) {
	for _, tt := range []struct {
		size, limit int
		gso         bool
		n, bytes    int
	}{
		{1451, 1472, false, 2, 1451 + 2*32},
		{frame.MaxSuperFrameSize, 1472, true, 46, frame.MaxSuperFrameSize + 46*42},
		{frame.MaxSuperFrameSize, 8972, true, 8, frame.MaxSuperFrameSize + 8*42},
		{1430 * 3, 1472, true, 3, 1430*3 + 3*42},
	} {
		n, bytes := fragments(tt.size, tt.limit, tt.gso)
		if n != tt.n || bytes != tt.bytes {
			t.Errorf("fragments(%d, %d, %v) = %d, %d; want %d, %d", tt.size, tt.limit, tt.gso, n, bytes, tt.n, tt.bytes)
		}
	}
	// The fragments of the biggest frame fit the arena at the smallest MTU.
	if _, bytes := fragments(frame.MaxSuperFrameSize, MinUnderlayMTU-ipv6UDPOverhead, true); bytes > sendArenaSize {
		t.Errorf("%d bytes of fragments exceed the %d-byte arena", bytes, sendArenaSize)
	}
}
