package host

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ContainerIfName is the name of the interface an attach puts inside the
// container's network namespace.
const ContainerIfName = "ethws"

// NetNSPath resolves how a user names a network namespace: a PID (its
// /proc/PID/ns/net), a path, or a name under /run/netns (as `ip netns`
// creates). It checks that the namespace exists.
func NetNSPath(spec string) (string, error) {
	var path string
	switch {
	case spec == "":
		return "", errors.New("no network namespace given")
	case isDigits(spec):
		path = "/proc/" + spec + "/ns/net"
	case strings.ContainsRune(spec, '/'):
		path = spec
	default:
		path = filepath.Join("/run/netns", spec)
	}
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("network namespace %q not found (no %s)", spec, path)
		}
		return "", fmt.Errorf("network namespace %q: %w", spec, err)
	}
	return path, nil
}

// CheckIfName reports whether name can name a network interface: 1 to
// 15 bytes, none of them '/', ':', white space or control characters, and
// not "." or "..".
func CheckIfName(name string) error {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("interface name %q: want 1 to 15 characters", name)
	}
	for _, c := range []byte(name) {
		if c <= ' ' || c == '/' || c == ':' || c >= 0x7f {
			return fmt.Errorf("interface name %q: %q is not allowed", name, c)
		}
	}
	return nil
}

func isDigits(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// Attachment is a container namespace plugged into the bridge.
type Attachment struct {
	NetNS    string         `json:"netns"`     // the path it was attached by
	HostVeth string         `json:"host_veth"` // the bridge side
	MAC      string         `json:"mac"`       // the container side's MAC
	Addrs    []netip.Prefix `json:"addrs"`
}

// HostVethName is the bridge-side veth name of the namespace at nsPath:
// derived from the namespace's inode, so that the same namespace always
// maps to the same name and a detach can find it without state.
func HostVethName(nsPath string) (string, error) { return hostVethName(nsPath) }

func hostVethName(nsPath string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(nsPath, &st); err != nil {
		return "", fmt.Errorf("stat %s: %w", nsPath, err)
	}
	return fmt.Sprintf(VethPrefix+"%x", st.Ino&0xffffffffff), nil
}

// Attach connects the network namespace at nsPath to bridge with a veth
// pair: the container side is called ContainerIfName, gets the addresses
// in addrs, the MTU and is brought up. Attaching a namespace that is
// already attached adds the missing addresses. On error nothing created by
// this call is left behind.
func Attach(bridge, nsPath string, addrs []netip.Prefix, mtu int) (*Attachment, error) {
	return AttachWithMAC(bridge, nsPath, addrs, mtu, nil)
}

// AttachWithMAC is Attach giving the container side the MAC mac (if not
// nil) instead of a random one: a container that moves between hosts
// keeps its MAC, and the isolation rules can name the MAC before the
// port exists. Re-attaching an attached namespace with another MAC is an
// error.
func AttachWithMAC(bridge, nsPath string, addrs []netip.Prefix, mtu int, mac net.HardwareAddr) (*Attachment, error) {
	return AttachNamed(bridge, nsPath, ContainerIfName, addrs, mtu, mac)
}

// AttachNamed is AttachWithMAC naming the container side ifname instead
// of ContainerIfName (a container runtime's choice, like eth0).
func AttachNamed(bridge, nsPath, ifname string, addrs []netip.Prefix, mtu int, mac net.HardwareAddr) (*Attachment, error) {
	if err := CheckIfName(ifname); err != nil {
		return nil, err
	}
	hostName, err := hostVethName(nsPath)
	if err != nil {
		return nil, err
	}
	br, err := netlink.LinkByName(bridge)
	if err != nil {
		return nil, fmt.Errorf("find bridge %q: %w", bridge, err)
	}
	ns, nh, err := nsHandle(nsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	defer nh.Close()

	created := false
	if _, err := netlink.LinkByName(hostName); err != nil {
		if !errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, fmt.Errorf("look up %q: %w", hostName, err)
		}
		if _, err := nh.LinkByName(ifname); err == nil {
			return nil, fmt.Errorf("namespace %s already has an interface %q not attached by this router", nsPath, ifname)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = hostName
		attrs.MTU = mtu
		attrs.MasterIndex = br.Attrs().Index
		veth := &netlink.Veth{
			LinkAttrs:        attrs,
			PeerName:         ifname,
			PeerNamespace:    netlink.NsFd(int(ns)),
			PeerHardwareAddr: mac,
		}
		if err := netlink.LinkAdd(veth); err != nil {
			return nil, fmt.Errorf("create veth %s: %w", hostName, permHint(err))
		}
		created = true
	}
	ok := false
	defer func() {
		if !ok && created {
			_ = DeleteLink(hostName)
		}
	}()

	hostLink, err := netlink.LinkByName(hostName)
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", hostName, err)
	}
	cont, err := nh.LinkByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("find %s in %s: %w", ifname, nsPath, err)
	}
	if mac != nil && cont.Attrs().HardwareAddr.String() != mac.String() {
		return nil, fmt.Errorf("namespace %s is attached with MAC %s, not %s", nsPath, cont.Attrs().HardwareAddr, mac)
	}
	if err := nh.LinkSetMTU(cont, mtu); err != nil {
		return nil, fmt.Errorf("set MTU on %s: %w", ifname, err)
	}
	// The container's TCP super-frames keep the kernel's default size (64
	// KiB): every transport carries a full super-frame, in pieces.
	have, err := nh.AddrList(cont, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", ifname, err)
	}
	for _, p := range addrs {
		if hasAddr(have, p) {
			continue
		}
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := nh.AddrAdd(cont, &netlink.Addr{IPNet: ipnet}); err != nil {
			return nil, fmt.Errorf("add %s to %s: %w", p, ifname, err)
		}
	}
	if err := nh.LinkSetUp(cont); err != nil {
		return nil, fmt.Errorf("bring %s up: %w", ifname, err)
	}
	if lo, err := nh.LinkByName("lo"); err == nil {
		_ = nh.LinkSetUp(lo)
	}
	if err := netlink.LinkSetUp(hostLink); err != nil {
		return nil, fmt.Errorf("bring %s up: %w", hostName, err)
	}
	a, err := attachmentOf(nh, cont, nsPath, hostName)
	if err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// attachmentOf describes the attachment of cont (the container's
// interface, seen through nh) to the host veth hostName: its MAC and its
// addresses other than link-local ones.
func attachmentOf(nh *netlink.Handle, cont netlink.Link, nsPath, hostName string) (*Attachment, error) {
	addrs, err := nh.AddrList(cont, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses of %s: %w", cont.Attrs().Name, err)
	}
	a := &Attachment{NetNS: nsPath, HostVeth: hostName, MAC: cont.Attrs().HardwareAddr.String()}
	for _, ad := range addrs {
		if ad.IP.IsLinkLocalUnicast() {
			continue
		}
		ip, _ := netip.AddrFromSlice(ad.IP)
		ones, _ := ad.Mask.Size()
		a.Addrs = append(a.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return a, nil
}

func hasAddr(have []netlink.Addr, p netip.Prefix) bool {
	for _, a := range have {
		ip, _ := netip.AddrFromSlice(a.IP)
		ones, _ := a.Mask.Size()
		if ip.Unmap() == p.Addr() && ones == p.Bits() {
			return true
		}
	}
	return false
}

// Detach removes the veth pair that Attach created for the namespace at
// nsPath. It reports false if the namespace was not attached.
func Detach(nsPath string) (bool, error) {
	hostName, err := hostVethName(nsPath)
	if err != nil {
		return false, err
	}
	if _, err := netlink.LinkByName(hostName); err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return false, nil
		}
		return false, err
	}
	if err := DeleteLink(hostName); err != nil {
		return false, fmt.Errorf("delete %s: %w", hostName, err)
	}
	return true, nil
}

// Attached returns the attachment of the namespace at nsPath as the
// kernel has it (the veth, the container side's MAC and addresses), or
// nil if it is not attached; a router restarted after a crash finds its
// containers this way.
func Attached(nsPath string) (*Attachment, error) {
	hostName, err := hostVethName(nsPath)
	if err != nil {
		return nil, err
	}
	if _, err := netlink.LinkByName(hostName); err != nil {
		if errors.As(err, new(netlink.LinkNotFoundError)) {
			return nil, nil
		}
		return nil, err
	}
	ns, nh, err := nsHandle(nsPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	defer nh.Close()
	cont, err := nh.LinkByName(ContainerIfName)
	if err != nil {
		return nil, nil // our veth name, but not our interface inside: not attached by us
	}
	return attachmentOf(nh, cont, nsPath, hostName)
}

// nsHandle opens the network namespace at nsPath and a netlink handle
// inside it; the caller closes both.
func nsHandle(nsPath string) (netns.NsHandle, *netlink.Handle, error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return ns, nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	nh, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return ns, nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	return ns, nh, nil
}

// NetNSInode is the inode of the namespace at path.
func NetNSInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// NetNSGone reports whether the namespace found at path with inode ino
// is gone: the path does not exist or names another namespace. Other
// errors (permissions) do not count as gone.
func NetNSGone(path string, ino uint64) bool {
	var st unix.Stat_t
	switch err := unix.Stat(path, &st); {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
		return true
	case err != nil:
		return false
	}
	return st.Ino != ino
}
