package host

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// Bridge describes the Linux bridge containers attach to.
type Bridge struct {
	Name string
	// MTU is the overlay MTU: the IP MTU of the bridge, its TAP and every
	// attached veth.
	MTU int
	// MAC is the bridge's own address; fixed so the bridge does not take
	// the lowest port address (which changes as ports come and go).
	MAC net.HardwareAddr
}

// EnsureBridge creates the bridge, or reuses an existing bridge of that
// name, sets its MTU and brings it up. It reports whether it created the
// bridge (so that the caller removes only what it created). A link of that
// name that is not a bridge is an error.
func EnsureBridge(br Bridge) (created bool, err error) {
	if err := checkLinkName(br.Name); err != nil {
		return false, err
	}
	link, err := netlink.LinkByName(br.Name)
	switch {
	case err == nil:
		if link.Type() != "bridge" {
			return false, fmt.Errorf("link %q exists and is a %s, not a bridge", br.Name, link.Type())
		}
	case errors.As(err, new(netlink.LinkNotFoundError)):
		attrs := netlink.NewLinkAttrs()
		attrs.Name = br.Name
		attrs.MTU = br.MTU
		attrs.HardwareAddr = br.MAC
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return false, fmt.Errorf("create bridge %q: %w", br.Name, permHint(err))
		}
		created = true
		if link, err = netlink.LinkByName(br.Name); err != nil {
			return false, fmt.Errorf("find new bridge %q: %w", br.Name, err)
		}
	default:
		return false, fmt.Errorf("look up bridge %q: %w", br.Name, permHint(err))
	}
	ok := false
	defer func() {
		if !ok && created {
			_ = netlink.LinkDel(link)
		}
	}()
	if link.Attrs().MTU != br.MTU {
		if err := netlink.LinkSetMTU(link, br.MTU); err != nil {
			return created, fmt.Errorf("set MTU %d on bridge %q: %w", br.MTU, br.Name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return created, fmt.Errorf("bring bridge %q up: %w", br.Name, err)
	}
	ok = true
	return created, nil
}

// DeleteLink removes the link called name; a missing link is not an error.
func DeleteLink(name string) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(link)
}

// SetMaster puts link name on the bridge and sets its MTU and state up.
func SetMaster(name, bridge string, mtu int) error {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("find %q: %w", name, err)
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find bridge %q: %w", bridge, err)
	}
	if err := netlink.LinkSetMTU(link, mtu); err != nil {
		return fmt.Errorf("set MTU %d on %q: %w", mtu, name, err)
	}
	if err := netlink.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("add %q to bridge %q: %w", name, bridge, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("bring %q up: %w", name, err)
	}
	return nil
}

func checkLinkName(name string) error {
	if name == "" || len(name) > 15 {
		return fmt.Errorf("invalid interface name %q: 1 to 15 characters", name)
	}
	return nil
}

// BridgePorts lists the names of the interfaces plugged into bridge.
func BridgePorts(bridge string) ([]string, error) {
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil, fmt.Errorf("bridge %s: %w", bridge, err)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []string
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}
