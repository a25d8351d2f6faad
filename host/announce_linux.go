package host

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Announce makes an attached container known on the whole weave network
// at once, which is what container mobility needs: it waits (at most
// wait) until the bridge forwards on the namespace's veth, then sends from
// inside the container one gratuitous ARP request per IPv4 address in
// addrs (sender and target both the address, to the broadcast MAC). The
// local bridge learns the MAC on the new port, the router floods the frame
// to every peer, whose switches move the MAC here and whose bridges learn
// it behind their TAP, and hosts that cache the address update their ARP
// entry (the MAC is usually unchanged). It returns how many it sent.
func Announce(nsPath string, addrs []netip.Addr, wait time.Duration) (int, error) {
	return AnnounceOn(nsPath, ContainerIfName, addrs, wait)
}

// AnnounceOn is Announce from the container's interface named ifname.
func AnnounceOn(nsPath, ifname string, addrs []netip.Addr, wait time.Duration) (int, error) {
	var v4 []netip.Addr
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		}
	}
	if len(v4) == 0 {
		return 0, nil
	}
	hostName, err := hostVethName(nsPath)
	if err != nil {
		return 0, err
	}
	if err := waitForwarding(hostName, wait); err != nil {
		return 0, err
	}
	ns, nh, err := nsHandle(nsPath)
	if err != nil {
		return 0, err
	}
	defer ns.Close()
	defer nh.Close()
	cont, err := nh.LinkByName(ifname)
	if err != nil {
		return 0, fmt.Errorf("find %s in %s: %w", ifname, nsPath, err)
	}
	mac := cont.Attrs().HardwareAddr
	fd, err := packetSocketIn(ns)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	sa := &unix.SockaddrLinklayer{Ifindex: cont.Attrs().Index, Protocol: htons(unix.ETH_P_ARP), Halen: 6}
	copy(sa.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	sent := 0
	for _, a := range v4 {
		if err := unix.Sendto(fd, GratuitousARP(mac, a), 0, sa); err != nil {
			return sent, fmt.Errorf("send gratuitous ARP for %s in %s: %w", a, nsPath, err)
		}
		sent++
	}
	return sent, nil
}

// GratuitousARP returns a broadcast ARP request from mac announcing ip
// (sender and target protocol address both ip), padded to the Ethernet
// minimum of 60 bytes.
func GratuitousARP(mac []byte, ip netip.Addr) []byte {
	f := make([]byte, 60)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], mac)
	f[12], f[13] = 0x08, 0x06 // ARP
	a := f[14:]
	a[0], a[1] = 0, 1       // hardware: Ethernet
	a[2], a[3] = 0x08, 0x00 // protocol: IPv4
	a[4], a[5] = 6, 4
	a[6], a[7] = 0, 1 // request
	copy(a[8:14], mac)
	ip4 := ip.As4()
	copy(a[14:18], ip4[:])
	copy(a[24:28], ip4[:]) // target hardware address stays zero
	return f
}

// waitForwarding waits until the bridge port name is up and, where sysfs
// shows it, in the forwarding state (3): the bridge takes a port to
// forwarding asynchronously once the veth has carrier, and frames sent
// before are lost.
func waitForwarding(name string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return fmt.Errorf("find %s: %w", name, err)
		}
		up := link.Attrs().OperState == netlink.OperUp
		if up {
			b, err := os.ReadFile("/sys/class/net/" + name + "/brport/state")
			if err != nil || strings.TrimSpace(string(b)) == "3" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bridge port %s is not forwarding after %s", name, wait)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// packetSocketIn opens an AF_PACKET socket for ARP inside ns. The socket
// keeps that namespace; the thread that opened it returns to its own, or
// is discarded if it cannot.
func packetSocketIn(ns netns.NsHandle) (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			ch <- result{-1, fmt.Errorf("enter the container's network namespace: %w", err)}
			return
		}
		fd, serr := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread() // back home: the thread may be reused
		} // else: stays locked, and the runtime discards the thread
		if serr != nil {
			ch <- result{-1, fmt.Errorf("packet socket: %w", permHint(serr))}
			return
		}
		ch <- result{fd, nil}
	}()
	r := <-ch
	return r.fd, r.err
}

func htons(v uint16) uint16 { return v>>8 | v<<8 }
