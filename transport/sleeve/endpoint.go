package sleeve

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/transport"
)

// resolveTimeout bounds the name lookups of ParseEndpoint.
const resolveTimeout = 10 * time.Second

// ParseEndpoint implements transport.Transport.ParseEndpoint. s is
// "host:port", "host" (port 6783), "[ipv6]:port", "[ipv6]" or a bare IPv6
// address; host is an IP address or a name resolved with
// net.DefaultResolver (waiting up to 10 s), and port a number or a UDP
// service name. It returns a transport.AddrPortEndpoint with IPv4-mapped
// addresses unmapped; an IPv4-only Sleeve (the default) prefers an IPv4
// address for a name and refuses IPv6 endpoints. It may block on DNS: do
// not call it on the data path.
func (s *Sleeve) ParseEndpoint(str string) (transport.Endpoint, error) {
	ap, err := s.parseEndpoint(str)
	if err != nil {
		return nil, fmt.Errorf("sleeve: invalid endpoint %q: %w", str, err)
	}
	return transport.AddrPortEndpoint(ap), nil
}

func (s *Sleeve) parseEndpoint(str string) (netip.AddrPort, error) {
	v4only := s.cfg.Listen.Addr().Is4()
	check := func(a netip.Addr, port uint16) (netip.AddrPort, error) {
		a = a.Unmap()
		if port == 0 {
			return netip.AddrPort{}, fmt.Errorf("port 0")
		}
		if v4only && !a.Is4() {
			return netip.AddrPort{}, fmt.Errorf("IPv6 address on an IPv4-only sleeve (listen on [::] to use IPv6)")
		}
		return netip.AddrPortFrom(a, port), nil
	}
	if ap, err := netip.ParseAddrPort(str); err == nil {
		return check(ap.Addr(), ap.Port())
	}
	if a, err := netip.ParseAddr(str); err == nil {
		return check(a, DefaultPort)
	}
	host, portStr, err := net.SplitHostPort(str)
	if err != nil {
		if strings.Contains(str, ":") && !strings.HasPrefix(str, "[") {
			return netip.AddrPort{}, err
		}
		host, portStr = strings.TrimSuffix(strings.TrimPrefix(str, "["), "]"), ""
	}
	if host == "" {
		return netip.AddrPort{}, fmt.Errorf("missing host")
	}
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	port := DefaultPort
	if portStr != "" {
		if port, err = net.DefaultResolver.LookupPort(ctx, "udp", portStr); err != nil {
			return netip.AddrPort{}, err
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return check(a, uint16(port))
	}
	network := "ip"
	if v4only {
		network = "ip4"
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	for _, a := range addrs { // prefer IPv4, like the rest of the underlay
		if a.Unmap().Is4() {
			return check(a, uint16(port))
		}
	}
	if len(addrs) == 0 {
		return netip.AddrPort{}, fmt.Errorf("no address for %q", host)
	}
	return check(addrs[0], uint16(port))
}
