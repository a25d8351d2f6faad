package host

import (
	"net"
	"net/netip"
	"slices"
)

// LocalAddrs lists the addresses of the host's interfaces that are up,
// but for loopback, the interfaces named in skip (the router's bridge
// and TAP) and addresses inside overlay (those are reached through the
// overlay itself; an invalid overlay excludes nothing). IPv4-mapped
// addresses are unmapped.
func LocalAddrs(skip []string, overlay netip.Prefix) []netip.Addr {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ifc := range ifs {
		if slices.Contains(skip, ifc.Name) || ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if overlay.IsValid() && overlay.Contains(ip) {
				continue
			}
			out = append(out, ip)
		}
	}
	return out
}
