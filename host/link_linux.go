package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkInfo is what a container runtime is told about an interface.
type LinkInfo struct {
	MAC string
	// Addrs are its addresses other than link-local ones.
	Addrs []netip.Addr
	// Up: administratively up.
	Up bool
}

// Link describes the interface named name in this network namespace, or
// in the one at nsPath if it is not empty; ok is false if there is none.
func Link(nsPath, name string) (LinkInfo, bool, error) {
	h, done, err := handleIn(nsPath)
	if err != nil {
		return LinkInfo{}, false, err
	}
	defer done()
	l, err := h.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return LinkInfo{}, false, nil
	}
	if err != nil {
		return LinkInfo{}, false, fmt.Errorf("look up %s: %w", name, err)
	}
	info := LinkInfo{MAC: l.Attrs().HardwareAddr.String(), Up: l.Attrs().Flags&net.FlagUp != 0}
	list, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return LinkInfo{}, false, fmt.Errorf("list addresses of %s: %w", name, err)
	}
	for _, ad := range list {
		if a, ok := netip.AddrFromSlice(ad.IP); ok && !ad.IP.IsLinkLocalUnicast() {
			info.Addrs = append(info.Addrs, a.Unmap())
		}
	}
	return info, true, nil
}

// AddDefaultRoute adds a default route through gw on the interface
// named name in the namespace at nsPath; one that exists is kept.
func AddDefaultRoute(nsPath, name string, gw netip.Addr) error {
	h, done, err := handleIn(nsPath)
	if err != nil {
		return err
	}
	defer done()
	l, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	bits := gw.BitLen()
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, bits)}, Gw: gw.AsSlice()}
	if gw.Is4() {
		r.Dst.IP = net.IPv4zero.To4()
	}
	if err := h.RouteAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("default route via %s on %s: %w", gw, name, err)
	}
	return nil
}

// DeleteLinkIn deletes the interface named name in the namespace at
// nsPath (and so its veth peer); a missing interface is not an error.
func DeleteLinkIn(nsPath, name string) error {
	h, done, err := handleIn(nsPath)
	if err != nil {
		return err
	}
	defer done()
	l, err := h.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := h.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// handleIn is a netlink handle in the namespace at nsPath, or in this
// one if nsPath is empty, and its closer.
func handleIn(nsPath string) (*netlink.Handle, func(), error) {
	if nsPath == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, nil, err
		}
		return h, h.Close, nil
	}
	ns, h, err := nsHandle(nsPath)
	if err != nil {
		return nil, nil, err
	}
	return h, func() { h.Close(); ns.Close() }, nil
}
