package quictransport

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/transport"
)

const (
	nameA    frame.PeerName = 0x020000000001
	nameB    frame.PeerName = 0x020000000002
	leakWait                = 5 * time.Second
)

var loopback0 = netip.MustParseAddrPort("127.0.0.1:0")

type node struct {
	t     *Transport
	recv  transport.ReceiveFunc
	local netip.AddrPort
}

func newNode(tb testing.TB, name frame.PeerName) *node {
	tb.Helper()
	return newNodeConfig(tb, Config{Self: name})
}

func newNodeConfig(tb testing.TB, cfg Config) *node {
	tb.Helper()
	cfg.Listen, cfg.HandshakeTimeout, cfg.MaxBackoff = loopback0, time.Second, 200*time.Millisecond
	tr, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	fns, local, err := tr.Open()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { tr.Close() })
	return &node{t: tr, recv: fns[0], local: local}
}

// newPair returns two connected transports, a (the dialer) and b.
func newPair(tb testing.TB) (a, b *node) {
	tb.Helper()
	return newPairConfig(tb, Config{})
}

// newPairConfig is newPair with cfg (Self set per node).
func newPairConfig(tb testing.TB, cfg Config) (a, b *node) {
	tb.Helper()
	ca, cb := cfg, cfg
	ca.Self, cb.Self = nameA, nameB
	a, b = newNodeConfig(tb, ca), newNodeConfig(tb, cb)
	if err := a.t.AddPeer(nameB, b.t.CertHash(), b.local, a.t.cfg.Self < nameB); err != nil {
		tb.Fatal(err)
	}
	if err := b.t.AddPeer(nameA, a.t.CertHash(), a.local, b.t.cfg.Self < nameA); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, "connection", func() bool { return a.t.PeerConnected(nameB) && b.t.PeerConnected(nameA) })
	return a, b
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func fill(f []byte, seed byte) {
	for i := range f {
		f[i] = seed + byte(i*7)
	}
}

// receiveN reads n frames from nd (with a deadline) and returns copies.
func receiveN(tb testing.TB, nd *node, n int) ([][]byte, []frame.Meta, []transport.Endpoint) {
	tb.Helper()
	type result struct {
		frames [][]byte
		metas  []frame.Meta
		eps    []transport.Endpoint
		err    error
	}
	ch := make(chan result, 1)
	go func() {
		var r result
		b := frame.NewBatchSize(8, transport.MaxOverhead, frame.MaxSuperFrameSize)
		eps := make([]transport.Endpoint, b.Cap())
		for len(r.frames) < n {
			k, err := nd.recv(b, eps)
			if err != nil {
				r.err = err
				break
			}
			for i := range k {
				r.frames = append(r.frames, bytes.Clone(b.Frame(i)))
				r.metas = append(r.metas, b.Meta[i])
				r.eps = append(r.eps, eps[i])
			}
		}
		ch <- r
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			tb.Fatalf("receive: %v", r.err)
		}
		return r.frames, r.metas, r.eps
	case <-time.After(10 * time.Second):
		nd.t.Close() // unblocks the goroutine
		<-ch
		tb.Fatalf("timed out receiving %d frames", n)
		return nil, nil, nil
	}
}

func TestExchange(t *testing.T) {
	leakcheck.Check(t, leakWait)
	a, b := newPair(t)
	gso := frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1348, CsumStart: 34, CsumOffset: 16}
	tests := []struct {
		name string
		size int
		meta frame.Meta
	}{
		{"small", 60, frame.Meta{Src: nameA, Dst: nameB}},
		{"flood", 100, frame.Meta{Src: 0x020000000009, Dst: frame.UnknownPeer}},
		{"1400", 1400, frame.Meta{Src: nameA, Dst: nameB}},
		{"max whole", MaxWholeFrame, frame.Meta{Src: nameA, Dst: nameB, GSO: frame.GSO{Flags: frame.GSOFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}}},
		{"gso csum", 1000, frame.Meta{Src: nameA, Dst: nameB, GSO: frame.GSO{Flags: frame.GSOFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}}},
		{"super-frame", frame.MaxSuperFrameSize, frame.Meta{Src: nameA, Dst: nameB, GSO: gso}},
		{"jumbo", frame.MaxFrameSize, frame.Meta{Src: nameA, Dst: nameB}},
	}
	for _, dir := range []struct {
		name     string
		from, to *node
		via      frame.PeerName
	}{{"a->b", a, b, nameA}, {"b->a", b, a, nameB}} {
		batch := frame.NewBatchSize(len(tests), transport.MaxOverhead, frame.MaxSuperFrameSize)
		for i, tt := range tests {
			batch.Sizes[i] = tt.size
			fill(batch.Frame(i), byte(i))
			batch.Meta[i] = tt.meta
		}
		batch.N = len(tests)
		want := make([][]byte, len(tests))
		for i := range tests {
			want[i] = bytes.Clone(batch.Frame(i))
		}
		if err := dir.from.t.Send(batch, transport.AddrPortEndpoint(dir.to.local)); err != nil {
			t.Fatalf("%s: Send: %v", dir.name, err)
		}
		for i := range tests {
			if !bytes.Equal(batch.Frame(i), want[i]) {
				t.Fatalf("%s: Send modified frame %d", dir.name, i)
			}
		}
		frames, metas, eps := receiveN(t, dir.to, len(tests))
		for i, tt := range tests {
			wantMeta := tt.meta
			wantMeta.Via = dir.via
			if !bytes.Equal(frames[i], want[i]) {
				t.Errorf("%s %s: frame of %d bytes differs (got %d bytes)", dir.name, tt.name, tt.size, len(frames[i]))
			}
			if metas[i] != wantMeta {
				t.Errorf("%s %s: meta %+v, want %+v", dir.name, tt.name, metas[i], wantMeta)
			}
			if eps[i].DstAddrPort() != dir.from.local {
				t.Errorf("%s %s: endpoint %v, want %v", dir.name, tt.name, eps[i], dir.from.local)
			}
		}
	}
	if s := a.t.Stats(); s.Fragmented == 0 || s.FramesSent != uint64(len(tests)) {
		t.Errorf("a stats: %+v", s)
	}
}

// TestOrderPreserved sends rounds of 20 frames of mixed sizes (whole and
// fragmented) and checks they arrive in order. Each round is received
// before the next is sent: DATAGRAMs are unreliable, and a burst bigger
// than quic-go's receive queue could lose frames on a loaded machine.
func TestOrderPreserved(t *testing.T) {
	leakcheck.Check(t, leakWait)
	a, b := newPair(t)
	batch := frame.NewBatch(20, transport.MaxOverhead)
	for round := range 10 {
		for i := range batch.Cap() {
			batch.Sizes[i] = 64 + (i*97)%1300
			fill(batch.Frame(i), 0)
			seq := round*batch.Cap() + i
			batch.Frame(i)[0], batch.Frame(i)[1] = byte(seq>>8), byte(seq)
			batch.Meta[i] = frame.Meta{Src: nameA, Dst: nameB}
		}
		batch.N = batch.Cap()
		if err := a.t.Send(batch, transport.AddrPortEndpoint(b.local)); err != nil {
			t.Fatal(err)
		}
		frames, _, _ := receiveN(t, b, batch.N)
		for i, f := range frames {
			if seq := int(f[0])<<8 | int(f[1]); seq != round*batch.Cap()+i {
				t.Fatalf("round %d: frame %d has sequence %d", round, i, seq)
			}
		}
	}
}

func TestPinning(t *testing.T) {
	tests := []struct {
		name string
		// setup adds peers; a (nameA) dials b.
		setup func(t *testing.T, a, b *node)
		// refuser is the side whose pin check fails.
		refuserIsA bool
	}{
		{"dialer pins wrong hash", func(t *testing.T, a, b *node) {
			bad := b.t.CertHash()
			bad[0] ^= 1
			mustAdd(t, a, nameB, bad, b.local)
			mustAdd(t, b, nameA, a.t.CertHash(), a.local)
		}, true},
		{"acceptor pins wrong hash", func(t *testing.T, a, b *node) {
			bad := a.t.CertHash()
			bad[31] ^= 1
			mustAdd(t, a, nameB, b.t.CertHash(), b.local)
			mustAdd(t, b, nameA, bad, a.local)
		}, false},
		{"acceptor never added the dialer", func(t *testing.T, a, b *node) {
			mustAdd(t, a, nameB, b.t.CertHash(), b.local)
		}, false},
		{"impostor with another certificate", func(t *testing.T, a, b *node) {
			other, err := GenerateCert()
			if err != nil {
				t.Fatal(err)
			}
			mustAdd(t, a, nameB, HashCert(other.Certificate[0]), b.local)
			mustAdd(t, b, nameA, a.t.CertHash(), a.local)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t, leakWait)
			a, b := newNode(t, nameA), newNode(t, nameB)
			tt.setup(t, a, b)
			refuser := b
			if tt.refuserIsA {
				refuser = a
			}
			waitFor(t, "refusal", func() bool { return refuser.t.Stats().Refused > 0 })
			if a.t.PeerConnected(nameB) || b.t.PeerConnected(nameA) {
				t.Fatal("connected despite the pin")
			}
			batch := frame.NewBatch(1, transport.MaxOverhead)
			batch.Sizes[0], batch.N = 60, 1
			err := a.t.Send(batch, transport.AddrPortEndpoint(b.local))
			if !errors.Is(err, ErrNoConnection) {
				t.Errorf("Send = %v, want ErrNoConnection", err)
			}
			if s := a.t.Stats(); s.DropNoConn != 1 {
				t.Errorf("DropNoConn = %d", s.DropNoConn)
			}
			if s := b.t.Stats(); s.FramesReceived != 0 || s.Connects != 0 {
				t.Errorf("b stats: %+v", s)
			}
		})
	}
}

func mustAdd(t *testing.T, n *node, name frame.PeerName, h [32]byte, ep netip.AddrPort) {
	t.Helper()
	if err := n.t.AddPeer(name, h, ep, n.t.cfg.Self < name); err != nil {
		t.Fatal(err)
	}
}

func TestSendNoPeer(t *testing.T) {
	leakcheck.Check(t, leakWait)
	a := newNode(t, nameA)
	batch := frame.NewBatch(2, transport.MaxOverhead)
	batch.Sizes[0], batch.Sizes[1], batch.N = 60, 60, 2
	err := a.t.Send(batch, transport.AddrPortEndpoint(netip.MustParseAddrPort("127.0.0.1:9")))
	var op *transport.OpError
	if !errors.Is(err, ErrNoPeer) || !errors.As(err, &op) {
		t.Errorf("Send = %v", err)
	}
	if s := a.t.Stats(); s.DropNoPeer != 2 {
		t.Errorf("DropNoPeer = %d", s.DropNoPeer)
	}
}

func TestReconnectAfterRestart(t *testing.T) {
	leakcheck.Check(t, leakWait)
	a, b := newPair(t)
	b.t.RemovePeer(nameA)
	waitFor(t, "disconnect", func() bool { return !a.t.PeerConnected(nameB) })
	mustAdd(t, b, nameA, a.t.CertHash(), a.local)
	waitFor(t, "reconnect", func() bool { return a.t.PeerConnected(nameB) && b.t.PeerConnected(nameA) })
	batch := frame.NewBatch(1, transport.MaxOverhead)
	batch.Sizes[0], batch.N = 60, 1
	batch.Meta[0] = frame.Meta{Src: nameA, Dst: nameB}
	if err := a.t.Send(batch, transport.AddrPortEndpoint(b.local)); err != nil {
		t.Fatal(err)
	}
	receiveN(t, b, 1)
}

func TestCloseUnblocksReceive(t *testing.T) {
	leakcheck.Check(t, leakWait)
	a, _ := newPair(t)
	errc := make(chan error, 1)
	go func() {
		b := frame.NewBatch(4, transport.MaxOverhead)
		_, err := a.recv(b, make([]transport.Endpoint, 4))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := a.t.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReceiveFunc after Close = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReceiveFunc still blocked after Close")
	}
	if err := a.t.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	batch := frame.NewBatch(1, transport.MaxOverhead)
	batch.N = 1
	if err := a.t.Send(batch, transport.AddrPortEndpoint(loopback0)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Send after Close = %v", err)
	}
}

func TestLoadOrCreateCert(t *testing.T) {
	dir := t.TempDir()
	c1, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	if HashCert(c1.Certificate[0]) != HashCert(c2.Certificate[0]) {
		t.Error("reloaded certificate differs")
	}
	if es, _ := os.ReadDir(dir); len(es) != 2 {
		t.Errorf("dir holds %v, want only %s and %s", es, CertFile, KeyFile)
	}
	tr, err := New(Config{Self: nameA, Certificate: &c2})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.CertHash() != HashCert(c1.Certificate[0]) {
		t.Error("CertHash is not the hash of the configured certificate")
	}
}

func TestOverhead(t *testing.T) {
	tr, err := New(Config{Self: nameA})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if mtu := 1500 - tr.Overhead() - frame.EthernetHeaderSize; mtu != 1354 {
		t.Errorf("overlay MTU on 1500 = %d, want 1354", mtu)
	}
	if MaxHeaderSize > transport.MaxOverhead {
		t.Error("header does not fit the headroom")
	}
}

// TestLargerNameDialsFromBehindNAT: the side told to dial does, whatever
// the names' order (here the larger name, B), and the acceptor takes its
// connection although B is registered at an address it does not come
// from (B's announced endpoint is unreachable, as behind NAT). Frames
// cross both ways, the acceptor's addressed to B's registered endpoint.
func TestLargerNameDialsFromBehindNAT(t *testing.T) {
	leakcheck.Check(t, leakWait)
	a, b := newNode(t, nameA), newNode(t, nameB)
	unreachable := netip.MustParseAddrPort("127.0.0.1:1")
	if err := a.t.AddPeer(nameB, b.t.CertHash(), unreachable, false); err != nil {
		t.Fatal(err)
	}
	if err := b.t.AddPeer(nameA, a.t.CertHash(), a.local, true); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connection", func() bool { return a.t.PeerConnected(nameB) && b.t.PeerConnected(nameA) })
	if got := a.t.Endpoint(nameB); got != b.local {
		t.Errorf("a's endpoint in use for b: %v, want b's address %v", got, b.local)
	}
	send := func(from *node, to netip.AddrPort, seed byte) {
		out := frame.NewBatch(1, transport.MaxOverhead)
		out.Sizes[0] = 100
		fill(out.Frame(0), seed)
		out.N = 1
		if err := from.t.Send(out, transport.AddrPortEndpoint(to)); err != nil {
			t.Fatal(err)
		}
	}
	send(b, a.local, 1)
	if _, metas, _ := receiveN(t, a, 1); metas[0].Via != nameB {
		t.Errorf("a got a frame via %v", metas[0].Via)
	}
	send(a, unreachable, 2)
	if _, _, eps := receiveN(t, b, 1); eps[0].DstAddrPort() != a.local {
		t.Errorf("b got a frame from %v, want %v", eps[0], a.local)
	}
}
