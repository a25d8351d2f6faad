package sleeve

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
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

const peerD frame.PeerName = 0x0200000000d4

// testKey derives a key from a label.
func testKey(label string) [32]byte { return sha256.Sum256([]byte(label)) }

// setKeys gives a and b keys for each other, derived from label: a sends
// with label/a->b, which b receives with.
func setKeys(t testing.TB, a, b *end, label string) {
	t.Helper()
	setCipherKeys(t, a, b, label, ChaCha20Poly1305)
}

// setCipherKeys is setKeys for cipher c.
func setCipherKeys(t testing.TB, a, b *end, label string, c Cipher) {
	t.Helper()
	ab, ba := testKey(label+"/a->b"), testKey(label+"/b->a")
	if err := a.s.SetCipherKeys(b.s.cfg.Self, b.addr, c, ab, ba); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SetCipherKeys(a.s.cfg.Self, a.addr, c, ba, ab); err != nil {
		t.Fatal(err)
	}
}

// testCiphers are the ciphers the encrypted round trips run with.
var testCiphers = []Cipher{ChaCha20Poly1305, AES256GCM}

// rawPeer is a plain UDP socket on 127.0.0.1: a sleeve's destination
// whose datagrams the test reads as they are on the wire, and a sender of
// raw datagrams.
type rawPeer struct {
	conn *net.UDPConn
	addr netip.AddrPort
	ep   transport.Endpoint
}

func listenRaw(t testing.TB) *rawPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return &rawPeer{conn: c, addr: ap, ep: transport.AddrPortEndpoint(ap)}
}

func (r *rawPeer) read(t testing.TB) []byte {
	t.Helper()
	buf := make([]byte, 1<<16)
	r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := r.conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// capture sends out from a to r and returns the datagrams as they were on
// the wire.
func (r *rawPeer) capture(t testing.TB, a *end, out *frame.Batch) [][]byte {
	t.Helper()
	before := a.s.Stats().SentDatagrams
	if err := a.s.Send(out, r.ep); err != nil {
		t.Fatal(err)
	}
	var ds [][]byte
	for range a.s.Stats().SentDatagrams - before {
		ds = append(ds, r.read(t))
	}
	return ds
}

// forward sends raw datagrams to e.
func (r *rawPeer) forward(t testing.TB, e *end, ds ...[]byte) {
	t.Helper()
	for _, d := range ds {
		if _, err := r.conn.WriteToUDPAddrPort(d, e.addr); err != nil {
			t.Fatal(err)
		}
	}
}

// idle runs e's ReceiveFunc for 100 ms, failing if it delivers a frame:
// the datagrams sent to e before are processed (dropped) by then.
func (e *end) idle(t testing.TB) {
	t.Helper()
	e.s.sock.Load().conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	b := frame.NewBatchSize(8, transport.MaxOverhead, frame.MaxSuperFrameSize)
	eps := make([]transport.Endpoint, b.Cap())
	for {
		n, err := e.recv(b, eps)
		if n > 0 {
			t.Fatalf("%d frames delivered, want none", n)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func counterOf(d []byte) uint64 { return binary.BigEndian.Uint64(d[HeaderSize:]) }

// oneFrame is a batch of one 100-byte frame with a pattern from seed.
func oneFrame(seed byte) *frame.Batch {
	b := makeBatch([]int{100})
	copy(b.Frame(0), testFrame(100, seed))
	return b
}

func TestEncryptedSendReceive(t *testing.T) {
	for _, c := range testCiphers {
		t.Run(c.String(), func(t *testing.T) { testEncryptedSendReceive(t, c) })
	}
}

func testEncryptedSendReceive(t *testing.T, c Cipher) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	setCipherKeys(t, a, b, "send-receive", c)
	// Encrypted, a datagram is at most 1472 bytes on the wire, so its
	// plaintext at most 1448: one frame up to 1426 bytes (the 1402-byte
	// overlay MTU and 24 bytes of Ethernet header and GSO descriptor);
	// fragments of 1448 - 8 - 24 = 1416 bytes.
	tests := []struct {
		name      string
		sizes     []int
		datagrams uint64
	}{
		{"one small", []int{60}, 1},
		{"one at the limit", []int{1426}, 1},
		{"one past the limit, in two fragments", []int{1427}, 2},
		{"largest frame, fragmented", []int{frame.MaxFrameSize}, 7},
		{"super-frame, fragmented", []int{frame.MaxSuperFrameSize}, 47},
		{"runt-sized", []int{14}, 1},
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
			dgs := after.SentDatagrams - before.SentDatagrams
			if dgs != tt.datagrams {
				t.Errorf("sent %d datagrams, want %d", dgs, tt.datagrams)
			}
			if bytes := after.SentBytes - before.SentBytes; bytes > dgs*1472 {
				t.Errorf("%d bytes in %d datagrams: some exceed 1472", bytes, dgs)
			}
			checkReceived(t, b.receiveN(t, in, len(tt.sizes)), out, a)
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

// TestEncryptedWire reads encrypted datagrams off the wire: the header in
// clear with FlagEncrypted, consecutive counters, no plaintext, equal
// sizes for fragments, and they open to the plaintext datagram.
func TestEncryptedWire(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	raw := listenRaw(t)
	key := testKey("wire")
	if err := a.s.SetKeys(peerB, raw.addr, key, testKey("unused")); err != nil {
		t.Fatal(err)
	}
	// An opener with key as its receive key for peerA.
	opener, err := New(Config{Self: peerB})
	if err != nil {
		t.Fatal(err)
	}
	if err := opener.SetKeys(peerA, netip.AddrPort{}, testKey("other"), key); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		sizes []int
		gso   []frame.GSO
		want  []int  // datagram sizes
		flags []byte // and flags
	}{
		{"packed", []int{60, 60}, nil, []int{8 + 8 + 2*74 + 16}, []byte{0}},
		{"alone, in place, at the limit", []int{1416}, []frame.GSO{csumOnly}, []int{1472}, []byte{FlagGSO}},
		{"alone, no offload", []int{1426}, nil, []int{1472}, []byte{0}},
		{"fragments with GSO", []int{3000}, []frame.GSO{tcp4GSO}, []int{1472, 1472, 24 + 8 + 34 + 3000 - 2*1406},
			[]byte{FlagFragment | FlagGSO, FlagFragment | FlagGSO, FlagFragment | FlagGSO}},
	}
	next := uint64(0)
	out := make([]byte, MaxDatagramSize)
	var nonce [12]byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := makeBatch(tt.sizes)
			for i, g := range tt.gso {
				b.Meta[i].GSO = g
			}
			ds := raw.capture(t, a, b)
			if len(ds) != len(tt.want) {
				t.Fatalf("%d datagrams, want %d", len(ds), len(tt.want))
			}
			var r Reader
			var frag []byte
			for i, d := range ds {
				if len(d) != tt.want[i] || d[0] != Version || d[1] != tt.flags[i]|FlagEncrypted || frame.PeerNameFrom(d[2:]) != peerA {
					t.Fatalf("datagram %d: %d bytes, header %x; want %d, flags %#x", i, len(d), d[:HeaderSize], tt.want[i], tt.flags[i]|FlagEncrypted)
				}
				if c := counterOf(d); c != next {
					t.Errorf("datagram %d: counter %d, want %d", i, c, next)
				}
				next++
				if bytes.Contains(d, b.Frame(0)[20:40]) {
					t.Error("plaintext on the wire")
				}
				p, reason, _ := opener.keys.table.Load().open(d, out, &nonce, time.Now())
				if reason != dropNone {
					t.Fatalf("datagram %d: open: %v", i, reason)
				}
				if len(p) != len(d)-EncryptionOverhead || p[1] != tt.flags[i] {
					t.Fatalf("opened to %d bytes, flags %#x", len(p), p[1])
				}
				if err := r.Reset(p); err != nil {
					t.Fatal(err)
				}
				if f, ok := r.Fragment(); ok {
					frag = append(frag, f.Data...)
					continue
				}
				for k := 0; r.More(); k++ {
					meta, fr, _ := r.Next()
					if meta.GSO != b.Meta[k].GSO || !bytes.Equal(fr, b.Frame(k)) {
						t.Errorf("frame %d differs", k)
					}
				}
			}
			if frag != nil && !bytes.Equal(frag, b.Frame(0)) {
				t.Error("fragments do not make the frame")
			}
		})
	}
}

func TestEncryptedSuperFrames(t *testing.T) {
	for _, c := range testCiphers {
		t.Run(c.String(), func(t *testing.T) { testEncryptedSuperFrames(t, c) })
	}
}

func testEncryptedSuperFrames(t *testing.T, c Cipher) {
	const big = frame.MaxSuperFrameSize
	batches := [][]int{
		{big},
		{big, 65000, 30000, big},
		{60, big, 60, 60, 40000, 1400, 9000, big, 14, 1426, 1427}, // mixed
		repeat(64, 1416),     // equal full-sized datagrams: GSO runs
		repeat(100, 200),     // packed
		{1000, big, 1000, 1}, // a bad frame: skipped
	}
	for _, m := range offloadModes {
		t.Run(m.name, func(t *testing.T) {
			leakCheck(t)
			a := openSleeve(t, Config{Self: peerA, Encrypt: true, noGSO: m.noGSO})
			b := openSleeve(t, Config{Self: peerB, Encrypt: true, noGRO: m.noGRO})
			setCipherKeys(t, a, b, "super-frames", c)
			in := superBatch()
			for _, sizes := range batches {
				out := withGSO(makeBatch(sizes))
				err := a.s.Send(out, b.ep)
				if sizes[len(sizes)-1] == 1 {
					if err == nil {
						t.Fatal("Send of a 1-byte frame succeeded")
					}
					out.N--
				} else if err != nil {
					t.Fatal(err)
				}
				checkReceived(t, b.receiveN(t, in, out.N), out, a)
			}
			as, bs := a.s.Stats(), b.s.Stats()
			t.Logf("sender: %d datagrams, %d fragments, %d GSO sends; receiver: %d datagrams, %d GRO receives, %d reassembled",
				as.SentDatagrams, as.SentFragments, as.GSOSends, bs.ReceivedDatagrams, bs.GROReceives, bs.Reassembled)
			if as.GSO && as.GSOSends == 0 {
				t.Error("GSO on and no GSO send")
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
			if as.SentDatagrams != bs.ReceivedDatagrams || as.SentFrames != bs.ReceivedFrames || as.SentBytes != bs.ReceivedBytes {
				t.Errorf("sent %d datagrams %d frames %d bytes, received %d %d %d", as.SentDatagrams, as.SentFrames,
					as.SentBytes, bs.ReceivedDatagrams, bs.ReceivedFrames, bs.ReceivedBytes)
			}
		})
	}
}

// TestEncryptDrops: datagrams under a wrong key, from a sender without a
// key, and in plaintext are dropped and counted; nothing of them is
// delivered, and a valid batch after them is.
func TestEncryptDrops(t *testing.T) {
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	setKeys(t, a, b, "good")
	wrong := openSleeve(t, Config{Self: peerC, Encrypt: true}) // b has another key for it
	if err := wrong.s.SetKeys(peerB, b.addr, testKey("wrong"), testKey("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SetKeys(peerC, wrong.addr, testKey("y"), testKey("right")); err != nil {
		t.Fatal(err)
	}
	nokey := openSleeve(t, Config{Self: peerD, Encrypt: true}) // b has no key for it
	if err := nokey.s.SetKeys(peerB, b.addr, testKey("z"), testKey("w")); err != nil {
		t.Fatal(err)
	}
	plain := openSleeve(t, Config{Self: peerC}) // as peerC, which b has a key for
	bad := withGSO(makeBatch([]int{60, 70, 20000, 1400}))
	for _, e := range []*end{wrong, nokey, plain} {
		if err := e.s.Send(bad, b.ep); err != nil {
			t.Fatal(err)
		}
	}
	// Truncated and extended encrypted datagrams, captured from a twin of
	// a (same name, same key).
	raw := listenRaw(t)
	twin := openSleeve(t, Config{Self: peerA, Encrypt: true})
	if err := twin.s.SetKeys(peerB, raw.addr, testKey("good/a->b"), testKey("good/b->a")); err != nil {
		t.Fatal(err)
	}
	enc := raw.capture(t, twin, oneFrame(1))[0]
	raw.forward(t, b, enc[:HeaderSize+CounterSize+TagSize-1], enc[:len(enc)-1], append(bytes.Clone(enc), 0))
	good := makeBatch([]int{100, 200, 300})
	if err := a.s.Send(good, b.ep); err != nil {
		t.Fatal(err)
	}
	r := b.receiveN(t, frame.NewBatchSize(16, transport.MaxOverhead, frame.MaxSuperFrameSize), good.N)
	checkReceived(t, r, good, a)
	s := b.s.Stats()
	for _, c := range []struct {
		reason DropReason
		want   uint64
	}{
		{DropAuth, wrong.s.Stats().SentDatagrams + 3},
		{DropNoKey, nokey.s.Stats().SentDatagrams},
		{DropPlaintext, plain.s.Stats().SentDatagrams},
	} {
		if s.Dropped[c.reason] != c.want || c.want < 3 {
			t.Errorf("Dropped[%v] = %d, want %d", c.reason, s.Dropped[c.reason], c.want)
		}
	}
	if s.ReceivedFrames != uint64(good.N) || s.Reassembled != 0 {
		t.Errorf("received %d frames, %d reassembled", s.ReceivedFrames, s.Reassembled)
	}

	// A plain sleeve opens what it has a key for, and drops the rest.
	if err := plain.s.SetKeys(peerA, netip.AddrPort{}, testKey("v"), testKey("good/a->b")); err != nil {
		t.Fatal(err)
	}
	raw.forward(t, plain, enc)
	if err := wrong.s.SetKeys(peerD, plain.addr, testKey("q"), testKey("r")); err != nil {
		t.Fatal(err)
	}
	if err := wrong.s.Send(bad, plain.ep); err != nil {
		t.Fatal(err)
	}
	if err := openSleeve(t, Config{Self: peerD}).s.Send(good, plain.ep); err != nil { // plaintext
		t.Fatal(err)
	}
	r = plain.receiveN(t, frame.NewBatch(16, transport.MaxOverhead), 1+good.N)
	if !bytes.Equal(r.frames[0], testFrame(100, 1)) || r.metas[0].Via != peerA {
		t.Errorf("encrypted frame to a plain sleeve: %x..., %+v", r.frames[0][:8], r.metas[0])
	}
	if s := plain.s.Stats(); s.Dropped[DropNoKey] == 0 || s.DroppedTotal() != s.Dropped[DropNoKey] {
		t.Errorf("plain sleeve dropped %v", s.Dropped)
	}
}

func TestEncryptSendErrors(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	err := a.s.Send(oneFrame(0), b.ep)
	var oe *transport.OpError
	if !errors.Is(err, ErrNoKey) || !errors.As(err, &oe) || oe.Peer != b.ep.String() {
		t.Fatalf("Send without a key: %v", err)
	}
	setKeys(t, a, b, "errors")
	// The key is found for an IPv4-mapped destination too.
	mapped := transport.AddrPortEndpoint(netip.AddrPortFrom(netip.AddrFrom16(b.addr.Addr().As16()), b.addr.Port()))
	if err := a.s.Send(oneFrame(0), mapped); err != nil {
		t.Fatal(err)
	}
	b.receiveN(t, frame.NewBatch(4, transport.MaxOverhead), 1)

	// Exhaustion: two datagrams left, then an error, and no more
	// datagrams.
	k := a.s.keys.table.Load().sendKeyFor(b.addr)
	k.next.Store(maxCounter - 2)
	for range 2 {
		if err := a.s.Send(oneFrame(1), b.ep); err != nil {
			t.Fatal(err)
		}
	}
	sent := a.s.Stats().SentDatagrams
	for range 2 {
		if err := a.s.Send(oneFrame(2), b.ep); !errors.Is(err, ErrKeyExhausted) {
			t.Fatalf("Send past the last counter: %v", err)
		}
	}
	if a.s.Stats().SentDatagrams != sent || k.next.Load() != maxCounter {
		t.Errorf("sent %d datagrams, next counter %d after exhaustion", a.s.Stats().SentDatagrams-sent, k.next.Load())
	}
	r := b.receiveN(t, frame.NewBatch(4, transport.MaxOverhead), 2)
	if !bytes.Equal(r.frames[1], testFrame(100, 1)) {
		t.Error("last counters not received")
	}
	// A new key: sending resumes.
	setKeys(t, a, b, "errors 2")
	if err := a.s.Send(oneFrame(3), b.ep); err != nil {
		t.Fatal(err)
	}
	b.receiveN(t, frame.NewBatch(4, transport.MaxOverhead), 1)
}

// TestEncryptReplay resends captured datagrams: a duplicate is dropped,
// reordering within the window is accepted, a counter older than the
// window is dropped, and a forged counter moves nothing.
func TestEncryptReplay(t *testing.T) {
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	raw := listenRaw(t)
	// a sends to raw with the key b receives with: raw relays.
	ab := testKey("replay/a->b")
	if err := a.s.SetKeys(peerB, raw.addr, ab, testKey("replay/b->a")); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SetKeys(peerA, a.addr, testKey("replay/b->a"), ab); err != nil {
		t.Fatal(err)
	}
	in := frame.NewBatch(16, transport.MaxOverhead)
	expect := func(seeds ...byte) {
		t.Helper()
		r := b.receiveN(t, in, len(seeds))
		for i, seed := range seeds {
			if !bytes.Equal(r.frames[i], testFrame(100, seed)) {
				t.Fatalf("frame %d: %x..., want seed %d", i, r.frames[i][:4], seed)
			}
		}
	}
	replays := func() uint64 { return b.s.Stats().Dropped[DropReplay] }

	d0 := raw.capture(t, a, oneFrame(0))[0]
	raw.forward(t, b, d0)
	expect(0)
	d1 := raw.capture(t, a, oneFrame(1))[0]
	raw.forward(t, b, d0, d1, d0, d1)
	expect(1)
	if n := replays(); n != 3 {
		t.Errorf("%d replays dropped, want 3", n)
	}

	// Reordered within the window: all accepted.
	var ds [][]byte
	for seed := byte(10); seed < 20; seed++ {
		ds = append(ds, raw.capture(t, a, oneFrame(seed))[0])
	}
	for i := len(ds) - 1; i >= 0; i-- {
		raw.forward(t, b, ds[i])
	}
	expect(19, 18, 17, 16, 15, 14, 13, 12, 11, 10)

	// A forged counter far ahead fails authentication and does not move
	// the window: an older datagram is still accepted after it.
	older := raw.capture(t, a, oneFrame(30))[0]
	forged := raw.capture(t, a, oneFrame(31))[0]
	binary.BigEndian.PutUint64(forged[HeaderSize:], counterOf(forged)+10*ReplayWindow)
	raw.forward(t, b, forged, older)
	expect(30)
	if s := b.s.Stats(); s.Dropped[DropAuth] != 1 {
		t.Errorf("Dropped[auth] = %d, want 1", s.Dropped[DropAuth])
	}

	// At the edge of the window and past it.
	pastEdge := raw.capture(t, a, oneFrame(40))[0]
	atEdge := raw.capture(t, a, oneFrame(41))[0]
	a.s.keys.table.Load().sendKeyFor(raw.addr).next.Add(ReplayWindow - 1)
	ahead := raw.capture(t, a, oneFrame(42))[0]
	if counterOf(ahead)-counterOf(pastEdge) != ReplayWindow+1 {
		t.Fatalf("counters %d, %d", counterOf(pastEdge), counterOf(ahead))
	}
	raw.forward(t, b, ahead, pastEdge, atEdge)
	// pastEdge is ReplayWindow+1 behind: too old; atEdge is exactly
	// ReplayWindow behind: still accepted.
	expect(42, 41)
	if n := replays(); n != 4 {
		t.Errorf("%d replays dropped, want 4", n)
	}
	if s := b.s.Stats(); s.DroppedTotal() != 5 {
		t.Errorf("dropped %v", s.Dropped)
	}
}

// TestEncryptRekey: after a rekey, datagrams under the previous receive
// key are accepted for RekeyGrace, then refused; RemoveKeys and SetKeys
// with the same keys again resume the counter and the replay window.
func TestEncryptRekey(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeveClock(t, Config{Self: peerB, Encrypt: true}, clk)
	raw := listenRaw(t)
	setA := func(gen string) {
		t.Helper()
		if err := a.s.SetKeys(peerB, raw.addr, testKey(gen+"/a->b"), testKey(gen+"/b->a")); err != nil {
			t.Fatal(err)
		}
	}
	setB := func(gen string) {
		t.Helper()
		if err := b.s.SetKeys(peerA, a.addr, testKey(gen+"/b->a"), testKey(gen+"/a->b")); err != nil {
			t.Fatal(err)
		}
	}
	in := frame.NewBatch(16, transport.MaxOverhead)
	expect := func(seeds ...byte) {
		t.Helper()
		r := b.receiveN(t, in, len(seeds))
		for i, seed := range seeds {
			if !bytes.Equal(r.frames[i], testFrame(100, seed)) {
				t.Fatalf("frame %d: %x..., want seed %d", i, r.frames[i][:4], seed)
			}
		}
	}
	drops := func(reason DropReason) uint64 { return b.s.Stats().Dropped[reason] }

	setA("gen1")
	setB("gen1")
	old := make([][]byte, 4)
	for i := range old {
		old[i] = raw.capture(t, a, oneFrame(byte(i)))[0]
	}
	raw.forward(t, b, old[0])
	expect(0)

	// Both rekey (b first: a's datagrams under gen1 are still in flight).
	setB("gen2")
	setB("gen2") // repeating is harmless
	raw.forward(t, b, old[1])
	expect(1)
	setA("gen2")
	n1 := raw.capture(t, a, oneFrame(10))[0]
	if counterOf(n1) != 0 {
		t.Errorf("first counter under a new key: %d", counterOf(n1))
	}
	raw.forward(t, b, n1, old[2], old[1])
	expect(10, 2)
	if drops(DropReplay) != 1 || drops(DropAuth) != 0 {
		t.Errorf("dropped %v", b.s.Stats().Dropped)
	}
	// Past the grace, gen1 is refused.
	clk.advance(RekeyGrace)
	raw.forward(t, b, old[3])
	raw.forward(t, b, raw.capture(t, a, oneFrame(11))...)
	expect(11)
	if drops(DropAuth) != 1 {
		t.Errorf("Dropped[auth] = %d after the grace, want 1", drops(DropAuth))
	}

	// RemoveKeys: nothing goes either way.
	kept := raw.capture(t, a, oneFrame(12))[0]
	b.s.RemoveKeys(peerA)
	b.s.RemoveKeys(peerA) // and again
	a.s.RemoveKeys(peerB)
	if err := a.s.Send(oneFrame(0), raw.ep); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Send after RemoveKeys: %v", err)
	}
	raw.forward(t, b, kept)
	b.idle(t)
	// The same keys again: the counter resumes, the window refuses what
	// it accepted before.
	setA("gen2")
	setB("gen2")
	n2 := raw.capture(t, a, oneFrame(13))[0]
	if counterOf(n2) != counterOf(kept)+1 {
		t.Errorf("counter %d after re-installing the key, want %d", counterOf(n2), counterOf(kept)+1)
	}
	raw.forward(t, b, n1, n2, kept)
	expect(13, 12)
	if drops(DropNoKey) != 1 || drops(DropReplay) != 2 {
		t.Errorf("dropped %v", b.s.Stats().Dropped)
	}
}

func TestEncryptOverhead(t *testing.T) {
	for _, tt := range []struct {
		listen  string
		encrypt bool
		want    int
	}{
		{"0.0.0.0:0", false, 60},
		{"0.0.0.0:0", true, 84},
		{"[::]:0", false, 80},
		{"[::]:0", true, 104},
	} {
		s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort(tt.listen), Encrypt: tt.encrypt})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Overhead(); got != tt.want {
			t.Errorf("%s, Encrypt %v: Overhead %d, want %d", tt.listen, tt.encrypt, got, tt.want)
		}
	}
	// The overlay MTU at 1500: a frame of it fits one encrypted datagram
	// of 1472 bytes, with a GSO descriptor.
	const mtu = 1500 - 84 - frame.EthernetHeaderSize
	if HeaderSize+EncryptionOverhead+FrameHeaderSize+GSOSize+frame.EthernetHeaderSize+mtu != 1500-ipv4UDPOverhead || mtu != 1402 {
		t.Errorf("overlay MTU %d does not fill a datagram", mtu)
	}
	if n, _ := fragments(frame.MaxSuperFrameSize, 1472-EncryptionOverhead, true); n != 47 {
		t.Errorf("a maximal super-frame in %d encrypted fragments, want 47", n)
	}
}

func TestSetKeysErrors(t *testing.T) {
	s, err := New(Config{Self: peerA, Encrypt: true})
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := testKey("1"), testKey("2")
	addr := netip.MustParseAddrPort("192.0.2.1:6783")
	for _, tt := range []struct {
		name       string
		peer       frame.PeerName
		send, recv [32]byte
		err        string
	}{
		{"unknown peer", frame.UnknownPeer, k1, k2, "invalid peer"},
		{"wide peer", 1 << 48, k1, k2, "invalid peer"},
		{"self", peerA, k1, k2, "this router"},
		{"zero send key", peerB, [32]byte{}, k2, "zero key"},
		{"zero recv key", peerB, k1, [32]byte{}, "zero key"},
		{"equal keys", peerB, k1, k1, "equal"},
	} {
		if err := s.SetKeys(tt.peer, addr, tt.send, tt.recv); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%s: %v, want an error mentioning %q", tt.name, err, tt.err)
		}
	}
	if len(s.keys.table.Load().recv) != 0 {
		t.Error("a refused SetKeys installed keys")
	}
	// An address moves to the last peer given it; a key shared by two
	// peers shares its counter.
	if err := s.SetKeys(peerB, addr, k1, k2); err != nil {
		t.Fatal(err)
	}
	if err := s.SetKeys(peerC, addr, k1, testKey("3")); err != nil {
		t.Fatal(err)
	}
	tb := s.keys.table.Load()
	if len(tb.send) != 1 || len(tb.recv) != 2 || tb.sendKeyFor(addr) != s.keys.peers[peerB].send {
		t.Errorf("table: %d send keys, %d receive keys", len(tb.send), len(tb.recv))
	}
	if s.keys.peers[peerB].addr.IsValid() || s.keys.peers[peerC].addr != addr {
		t.Error("the address did not move to peerC")
	}
}

// TestEncryptConcurrentRekey sends and receives while another goroutine
// churns keys of an unrelated peer and both ends rekey mid-stream: nothing
// is lost (run it with -race).
func TestEncryptConcurrentRekey(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	setKeys(t, a, b, "gen0")
	const batches, perBatch = 40, 8
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := testKey(string(rune('a' + i%8)))
			_ = b.s.SetKeys(peerC, netip.MustParseAddrPort("192.0.2.9:6783"), k, testKey("c"))
			if i%3 == 0 {
				b.s.RemoveKeys(peerC)
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	errc := make(chan error, 3)
	wg.Go(func() {
		out := withGSO(makeBatch(append(repeat(perBatch-1, 300), 20000)))
		for i := range batches {
			if i == batches/2 {
				// The receiver first, so that nothing in flight is lost.
				ab, ba := testKey("gen1/a->b"), testKey("gen1/b->a")
				errc <- b.s.SetKeys(peerA, a.addr, ba, ab)
				errc <- a.s.SetKeys(peerB, b.addr, ab, ba)
			}
			if err := a.s.Send(out, b.ep); err != nil {
				errc <- err
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	})
	r := b.receiveN(t, superBatch(), batches*perBatch)
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range r.frames {
		if !bytes.Equal(f, testFrame(len(f), byte(i%perBatch))) {
			t.Fatalf("frame %d corrupted", i)
		}
	}
	if s := b.s.Stats(); s.DroppedTotal() != 0 {
		t.Errorf("dropped %v", s.Dropped)
	}
}

// TestRoamingPeerIsAuthenticated: a datagram sealed by a, arriving from
// another address (a's NAT mapped it anew), is delivered with
// Meta.Authenticated and that address, once; the same datagram again is a
// replay. MoveEndpoint moves a's send key for b to b's new address; the
// old one then has none. A plaintext sleeve marks nothing authenticated.
func TestRoamingPeerIsAuthenticated(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	setKeys(t, a, b, "roaming")
	nat := listenRaw(t)
	// a seals for b but the datagrams go to nat, which forwards them
	// from its own address.
	if err := a.s.MoveEndpoint(peerB, nat.addr); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Send(oneFrame(1), b.ep); !errors.Is(err, ErrNoKey) {
		t.Fatalf("Send to b's old address: %v, want ErrNoKey", err)
	}
	ds := nat.capture(t, a, oneFrame(2))
	nat.forward(t, b, ds...)
	in := frame.NewBatch(4, transport.MaxOverhead)
	got := b.receiveN(t, in, 1)
	if !got.metas[0].Authenticated || got.metas[0].Via != peerA || got.eps[0].DstAddrPort() != nat.addr {
		t.Fatalf("got meta %+v from %v, want authenticated, via a, from %v", got.metas[0], got.eps[0], nat.addr)
	}
	nat.forward(t, b, ds...)
	b.idle(t)
	if d := b.s.Stats().Dropped[DropReplay]; d != 1 {
		t.Errorf("replays dropped: %d, want 1", d)
	}
	// Moving back, and moving a peer without keys, are fine.
	if err := a.s.MoveEndpoint(peerB, b.addr); err != nil {
		t.Fatal(err)
	}
	if err := a.s.MoveEndpoint(peerD, b.addr); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Send(oneFrame(3), b.ep); err != nil {
		t.Fatalf("Send after moving back: %v", err)
	}
	if got := b.receiveN(t, in, 1); !got.metas[0].Authenticated {
		t.Error("frame after moving back not authenticated")
	}
	if err := a.s.MoveEndpoint(peerB, netip.AddrPort{}); err == nil {
		t.Error("MoveEndpoint to an invalid address succeeded")
	}

	pa := openSleeve(t, Config{Self: peerA})
	pb := openSleeve(t, Config{Self: peerB})
	if err := pa.s.Send(oneFrame(4), pb.ep); err != nil {
		t.Fatal(err)
	}
	if got := pb.receiveN(t, in, 1); got.metas[0].Authenticated {
		t.Error("a plaintext frame is marked authenticated")
	}
}
