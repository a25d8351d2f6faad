package host

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// CreateVethPair creates a veth pair in this network namespace: hostName
// plugged into bridge, peerName with the MAC mac (random if nil), both
// with the MTU mtu and both down, so that rules for the port can be in
// place before it carries a frame (SetMaster brings hostName up). The
// peer stays here for a container runtime to move into its container. An
// existing link called hostName or peerName is an error; on error nothing
// is left behind.
func CreateVethPair(bridge, hostName, peerName string, mtu int, mac net.HardwareAddr) error {
	if err := checkLinkName(hostName); err != nil {
		return err
	}
	if err := checkLinkName(peerName); err != nil {
		return err
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("find bridge %q: %w", bridge, err)
	}
	for _, name := range []string{hostName, peerName} {
		if _, err := netlink.LinkByName(name); err == nil {
			return fmt.Errorf("create veth %s: a link called %s exists", hostName, name)
		} else if !errors.As(err, new(netlink.LinkNotFoundError)) {
			return fmt.Errorf("look up %q: %w", name, err)
		}
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = hostName
	attrs.MTU = mtu
	attrs.MasterIndex = br.Attrs().Index
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: peerName, PeerHardwareAddr: mac}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("create veth %s: %w", hostName, permHint(err))
	}
	peer, err := netlink.LinkByName(peerName)
	if err == nil {
		err = netlink.LinkSetMTU(peer, mtu)
	}
	if err != nil {
		_ = DeleteLink(hostName)
		return fmt.Errorf("set MTU on %s: %w", peerName, err)
	}
	return nil
}
