package quictransport

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/internal/porttest"
	"github.com/weave-switch/weave-switch/transport"
)

// freePort returns a UDP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) netip.AddrPort { return porttest.FreeUDP(t, loopback0.Addr()) }

func requireFree(t *testing.T, ap netip.AddrPort) { porttest.RequireFreeUDP(t, ap) }

// openFiles counts the process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

func TestNewDoesNoIO(t *testing.T) {
	leakcheck.Check(t, leakWait)
	ap := freePort(t)
	files := openFiles(t)
	tr, err := New(Config{Self: nameA, Listen: ap})
	if err != nil {
		t.Fatal(err)
	}
	if tr.CertHash() == ([32]byte{}) {
		t.Error("no certificate hash before Open")
	}
	if err := tr.AddPeer(nameB, [32]byte{9}, netip.MustParseAddrPort("127.0.0.1:1"), tr.cfg.Self < nameB); err != nil {
		t.Errorf("AddPeer before Open: %v", err)
	}
	if m := tr.PathMTU(nameB); m != 1500 {
		t.Errorf("PathMTU before Open = %d, want 1500", m)
	}
	b := frame.NewBatch(1, transport.MaxOverhead)
	b.N = 1
	if err := tr.Send(b, transport.AddrPortEndpoint(netip.MustParseAddrPort("127.0.0.1:1"))); !errors.Is(err, ErrNoConnection) {
		t.Errorf("Send before Open: %v, want ErrNoConnection", err)
	}
	if n := openFiles(t); n != files {
		t.Errorf("New and AddPeer opened %d files", n-files)
	}
	requireFree(t, ap)
	tr.Close()
	tr.Close()
	if _, _, err := tr.Open(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
}

func TestOpenCloseLeavesNothing(t *testing.T) {
	leakcheck.Check(t, leakWait)
	ap := freePort(t)
	files := openFiles(t)
	tr, err := New(Config{Self: nameA, Listen: ap})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.AddPeer(nameB, [32]byte{9}, netip.MustParseAddrPort("127.0.0.1:1"), tr.cfg.Self < nameB); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Open(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Open(); err == nil {
		t.Error("a second Open succeeded")
	}
	tr.Close()
	requireFree(t, ap)
	if n := openFiles(t); n != files {
		t.Errorf("%d files left open", n-files)
	}
}

func TestCloseAfterFailedOpen(t *testing.T) {
	leakcheck.Check(t, leakWait)
	busy, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(loopback0))
	if err != nil {
		t.Fatal(err)
	}
	ap := busy.LocalAddr().(*net.UDPAddr).AddrPort()
	tr, err := New(Config{Self: nameA, Listen: ap})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.Open(); err == nil {
		t.Fatal("Open on a bound port succeeded")
	}
	tr.Close()
	busy.Close()
	requireFree(t, ap)
}

// Peers added before Open are dialed by Open.
func TestPeersAddedBeforeOpen(t *testing.T) {
	leakcheck.Check(t, leakWait)
	pa, pb := freePort(t), freePort(t)
	cfg := Config{HandshakeTimeout: time.Second, MaxBackoff: 200 * time.Millisecond}
	ca, cb := cfg, cfg
	ca.Self, ca.Listen, cb.Self, cb.Listen = nameA, pa, nameB, pb
	a, err := New(ca)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(cb)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.AddPeer(nameB, b.CertHash(), pb, a.cfg.Self < nameB); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPeer(nameA, a.CertHash(), pa, b.cfg.Self < nameA); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Open(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Open(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); !a.PeerConnected(nameB) || !b.PeerConnected(nameA); {
		if time.Now().After(deadline) {
			t.Fatal("peers added before Open did not connect")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
