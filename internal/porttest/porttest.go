// Package porttest holds the helpers tests use to check that a
// transport binds what it should, when it should: a UDP port that is
// free now, and a check that one is free again.
package porttest

import (
	"net"
	"net/netip"
	"testing"
)

// FreeUDP returns a UDP port of ip that was free a moment ago.
func FreeUDP(t testing.TB, ip netip.Addr) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// RequireFreeUDP fails t if ap is bound.
func RequireFreeUDP(t testing.TB, ap netip.AddrPort) {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		t.Fatalf("%v is bound: %v", ap, err)
	}
	c.Close()
}
