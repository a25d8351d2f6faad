package wireguard

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/transport"
)

// freePort returns a UDP port that was free a moment ago.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// requireFree fails t if port cannot be bound on every address (the
// device's bind listens there).
func requireFree(t *testing.T, port uint16) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{Port: int(port)})
	if err != nil {
		t.Fatalf("port %d is bound: %v", port, err)
	}
	c.Close()
}

func newAt(t *testing.T, self frame.PeerName, port uint16) *Transport {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{Self: self, Listen: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port), PrivateKey: k})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestNewDoesNoIO(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	port := freePort(t)
	tr := newAt(t, nameA, port)
	requireFree(t, port)
	if tr.PublicKey() == ([32]byte{}) {
		t.Error("no public key before Open")
	}
	ep := netip.MustParseAddrPort("127.0.0.1:1")
	if err := tr.AddPeer(nameB, [32]byte{9}, ep); err != nil {
		t.Errorf("AddPeer before Open: %v", err)
	}
	if m := tr.PathMTU(nameB); m != 1500 {
		t.Errorf("PathMTU before Open = %d, want 1500", m)
	}
	b := frame.NewBatch(1, transport.MaxOverhead)
	b.N = 1
	if err := tr.Send(b, transport.AddrPortEndpoint(ep)); err == nil || errors.Is(err, net.ErrClosed) {
		t.Errorf("Send before Open: %v, want a not-open error", err)
	}
	requireFree(t, port)
	if err := tr.RemovePeer(nameB); err != nil {
		t.Errorf("RemovePeer before Open: %v", err)
	}
	tr.Close()
	tr.Close()
	if _, _, err := tr.Open(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	requireFree(t, port)
}

func TestOpenCloseLeavesNothing(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	port := freePort(t)
	tr := newAt(t, nameA, port)
	if err := tr.AddPeer(nameB, [32]byte{9}, netip.MustParseAddrPort("127.0.0.1:1")); err != nil {
		t.Fatal(err)
	}
	_, local, err := tr.Open()
	if err != nil {
		t.Fatal(err)
	}
	if local.Port() != port {
		t.Errorf("bound %v, want port %d", local, port)
	}
	if _, _, err := tr.Open(); err == nil {
		t.Error("a second Open succeeded")
	}
	tr.Close()
	requireFree(t, port)
}

func TestCloseAfterFailedOpen(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	busy, err := net.ListenUDP("udp", &net.UDPAddr{})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(busy.LocalAddr().(*net.UDPAddr).Port)
	tr := newAt(t, nameA, port)
	if _, _, err := tr.Open(); err == nil {
		t.Fatal("Open on a bound port succeeded")
	}
	tr.Close()
	busy.Close()
	requireFree(t, port)
}

// Peers added before Open are configured by Open: frames flow.
func TestPeersAddedBeforeOpen(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	pa, pb := freePort(t), freePort(t)
	a, b := newAt(t, nameA, pa), newAt(t, nameB, pb)
	defer a.Close()
	defer b.Close()
	epA := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), pa)
	epB := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), pb)
	if err := a.AddPeer(nameB, b.PublicKey(), epB); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(nameA, a.PublicKey(), epA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Open(); err != nil {
		t.Fatal(err)
	}
	fb, _, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	linkUp(t, a, b, fb[0], nameA, nameB, transport.AddrPortEndpoint(epB))
}

// wireguard-go's own lines reach Config.Logger.
func TestDeviceLogs(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	var buf syncBuffer
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := New(Config{Self: nameA, Listen: netip.MustParseAddrPort("127.0.0.1:0"), PrivateKey: k,
		Logger: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Open(); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if s := buf.String(); !strings.Contains(s, "level=DEBUG") || !strings.Contains(s, "origin=wireguard-go") {
		t.Errorf("no device lines at Debug in:\n%s", s)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// A public key is one peer's: another name with it, or this router's own
// key, is refused; the same peer may come back with it.
func TestAddPeerRefusesKeyInUse(t *testing.T) {
	tr := newAt(t, nameA, freePort(t))
	const nameC frame.PeerName = 0x020000000003
	ep := netip.MustParseAddrPort("127.0.0.1:1")
	key := [32]byte{9}
	if err := tr.AddPeer(nameB, key, ep); err != nil {
		t.Fatal(err)
	}
	err := tr.AddPeer(nameC, key, netip.MustParseAddrPort("127.0.0.1:2"))
	if !errors.Is(err, ErrKeyInUse) || !strings.Contains(err.Error(), nameB.String()) {
		t.Errorf("AddPeer with B's key = %v, want ErrKeyInUse naming %v", err, nameB)
	}
	if err := tr.AddPeer(nameC, tr.PublicKey(), ep); !errors.Is(err, ErrKeyInUse) {
		t.Errorf("AddPeer with our own key = %v, want ErrKeyInUse", err)
	}
	if err := tr.AddPeer(nameB, key, netip.MustParseAddrPort("127.0.0.1:3")); err != nil {
		t.Errorf("B again with its key: %v", err)
	}
	if err := tr.RemovePeer(nameB); err != nil {
		t.Fatal(err)
	}
	if err := tr.AddPeer(nameC, key, ep); err != nil {
		t.Errorf("C with the key B no longer has: %v", err)
	}
}
