package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddBridgeAddr gives the bridge (so the host) the address p, like
// `ip addr add p dev bridge`; the kernel adds the route to p's subnet. An
// address the bridge already has is not an error.
func AddBridgeAddr(bridge string, p netip.Prefix) error {
	link, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find bridge %q: %w", bridge, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD // the overlay is ours: no duplicate detection delay
	}
	if err := netlink.AddrAdd(link, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add %s to %s: %w", p, bridge, permHint(err))
	}
	return nil
}

// DelBridgeAddr removes the address p from the bridge; an address it
// does not have is not an error.
func DelBridgeAddr(bridge string, p netip.Prefix) error {
	link, err := netlink.LinkByName(bridge)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil
		}
		return fmt.Errorf("find bridge %q: %w", bridge, err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
	if err := netlink.AddrDel(link, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove %s from %s: %w", p, bridge, err)
	}
	return nil
}

// BridgeAddrs lists the bridge's addresses other than IPv6 link-local.
func BridgeAddrs(bridge string) ([]netip.Prefix, error) {
	link, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil, fmt.Errorf("find bridge %q: %w", bridge, err)
	}
	addrs, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", bridge, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		if a.IP.IsLinkLocalUnicast() {
			continue
		}
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// IPForward returns IPv4 forwarding in the caller's network namespace:
// "0" or "1".
func IPForward() (string, error) {
	b, err := os.ReadFile(ipForwardPath)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", ipForwardPath, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// EnableIPForward turns IPv4 forwarding on in the caller's network
// namespace and returns the previous value ("0" or "1") for
// RestoreIPForward.
func EnableIPForward() (prev string, err error) {
	if prev, err = IPForward(); err != nil || prev == "1" {
		return prev, err
	}
	if err := os.WriteFile(ipForwardPath, []byte("1\n"), 0o644); err != nil {
		return prev, fmt.Errorf("turn on IPv4 forwarding: %w", permHint(err))
	}
	return prev, nil
}

// RestoreIPForward sets IPv4 forwarding back to prev ("0" or "1").
func RestoreIPForward(prev string) error {
	if prev != "0" && prev != "1" {
		return nil
	}
	if err := os.WriteFile(ipForwardPath, []byte(prev+"\n"), 0o644); err != nil {
		return fmt.Errorf("restore IPv4 forwarding: %w", err)
	}
	return nil
}

// LinkExists reports whether a link called name exists.
func LinkExists(name string) bool {
	_, err := netlink.LinkByName(name)
	return err == nil
}
