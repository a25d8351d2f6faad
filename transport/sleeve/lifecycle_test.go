package sleeve

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/porttest"
	"github.com/weave-switch/weave-switch/transport"
)

// freePort returns a UDP port of 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) netip.AddrPort { return porttest.FreeUDP(t, loopback.Addr()) }

func requireFree(t *testing.T, ap netip.AddrPort) { porttest.RequireFreeUDP(t, ap) }

func TestNewDoesNoIO(t *testing.T) {
	leakCheck(t)
	ap := freePort(t)
	s, err := New(Config{Self: peerA, Listen: ap})
	if err != nil {
		t.Fatal(err)
	}
	requireFree(t, ap)
	b := frame.NewBatch(1, transport.MaxOverhead)
	b.N = 1
	if err := s.Send(b, transport.AddrPortEndpoint(ap)); err == nil {
		t.Error("Send before Open succeeded")
	}
	s.Close()
	s.Close()
	if _, _, err := s.Open(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	requireFree(t, ap)
}

func TestOpenCloseLeavesNothing(t *testing.T) {
	leakCheck(t)
	ap := freePort(t)
	s, err := New(Config{Self: peerA, Listen: ap})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(); err == nil {
		t.Error("a second Open succeeded")
	}
	s.Close()
	requireFree(t, ap)
}

func TestCloseAfterFailedOpen(t *testing.T) {
	leakCheck(t)
	busy, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(loopback))
	if err != nil {
		t.Fatal(err)
	}
	ap := busy.LocalAddr().(*net.UDPAddr).AddrPort()
	s, err := New(Config{Self: peerA, Listen: ap})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Open(); err == nil {
		t.Fatal("Open on a bound port succeeded")
	}
	s.Close()
	busy.Close()
	requireFree(t, ap)
}
