package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

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

// AddAddrsWhenReady adds addrs to the interface with MAC mac in the
// network namespace at nsPath once it is there, up and holding the
// address have: a container runtime makes the namespace, moves an
// endpoint's veth end into it and configures it after the network
// driver's part is done. It waits at most wait, or until stop is closed; addresses the
// interface has already are skipped.
func AddAddrsWhenReady(nsPath string, mac net.HardwareAddr, have netip.Prefix, addrs []netip.Prefix, wait time.Duration, stop <-chan struct{}) error {
	deadline := time.Now().Add(wait)
	var link netlink.Link
	var nh *netlink.Handle
	for {
		if nh == nil {
			// The namespace file may not exist yet: the runtime makes
			// the container's namespace after the driver's part.
			if ns, h, err := nsHandle(nsPath); err == nil {
				defer ns.Close()
				defer h.Close()
				nh = h
			}
		}
		if nh != nil {
			if link = readyLink(nh, mac, have); link != nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no interface with MAC %s and address %s up in %s after %s", mac, have, nsPath, wait)
		}
		select {
		case <-stop:
			return errors.New("stopped")
		case <-time.After(20 * time.Millisecond):
		}
	}
	cur, err := nh.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", link.Attrs().Name, err)
	}
	for _, p := range addrs {
		if hasAddr(cur, p) {
			continue
		}
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := nh.AddrAdd(link, &netlink.Addr{IPNet: ipnet}); err != nil {
			return fmt.Errorf("add %s to %s in %s: %w", p, link.Attrs().Name, nsPath, err)
		}
	}
	return nil
}

// readyLink is the link with MAC mac that is up and has address have,
// or nil.
func readyLink(nh *netlink.Handle, mac net.HardwareAddr, have netip.Prefix) netlink.Link {
	links, err := nh.LinkList()
	if err != nil {
		return nil
	}
	for _, l := range links {
		if l.Attrs().HardwareAddr.String() != mac.String() || l.Attrs().Flags&net.FlagUp == 0 {
			continue
		}
		if cur, err := nh.AddrList(l, netlink.FAMILY_V4); err == nil && hasAddr(cur, have) {
			return l
		}
	}
	return nil
}
