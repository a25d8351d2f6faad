package host

import (
	"bytes"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestGratuitousARPLayout(t *testing.T) {
	mac := []byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	f := GratuitousARP(mac, netip.MustParseAddr("10.40.1.5"))
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x08, 0x06,
		0, 1, 0x08, 0, 6, 4, 0, 1, // Ethernet/IPv4, request
		0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 10, 40, 1, 5, // sender
		0, 0, 0, 0, 0, 0, 10, 40, 1, 5, // target: same address
	}
	if len(f) != 60 || !bytes.Equal(f[:len(want)], want) || !bytes.Equal(f[len(want):], make([]byte, 60-len(want))) {
		t.Errorf("GratuitousARP = %x\nwant %x + zero padding to 60", f, want)
	}
}

// Attach with a given MAC, announce it, and find the MAC learned by the
// bridge on the new port; expose and hide an address on the bridge.
func TestAttachWithMACAnnounceAndExpose(t *testing.T) {
	requireRoot(t)
	hostNS := namedNS(t)
	contNS := namedNS(t)
	// No IPv6 in the container: its autoconfiguration frames would teach
	// the bridge the MAC too, and the announcement must do it alone.
	if out, err := exec.Command("ip", "netns", "exec", contNS, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1").CombinedOutput(); err != nil {
		t.Fatalf("disable IPv6: %v: %s", err, out)
	}
	inNS(t, hostNS, func() {
		if _, err := EnsureBridge(Bridge{Name: "wsa0", MTU: 1400}); err != nil {
			t.Errorf("EnsureBridge: %v", err)
			return
		}
		path, err := NetNSPath(contNS)
		if err != nil {
			t.Errorf("NetNSPath: %v", err)
			return
		}
		mac, _ := net.ParseMAC("02:77:00:00:00:42")
		addr := netip.MustParsePrefix("10.40.1.5/24")
		a, err := AttachWithMAC("wsa0", path, []netip.Prefix{addr}, 1400, mac)
		if err != nil {
			t.Errorf("AttachWithMAC: %v", err)
			return
		}
		if a.MAC != mac.String() {
			t.Errorf("attached with MAC %s, want %s", a.MAC, mac)
		}
		other, _ := net.ParseMAC("02:77:00:00:00:43")
		if _, err := AttachWithMAC("wsa0", path, []netip.Prefix{addr}, 1400, other); err == nil {
			t.Error("re-attach with another MAC accepted")
		}
		n, err := Announce(path, []netip.Addr{addr.Addr(), netip.MustParseAddr("fd00::5")}, 5*time.Second)
		if err != nil || n != 1 {
			t.Errorf("Announce = %d, %v; want 1 (IPv4 only)", n, err)
			return
		}
		hv, err := netlink.LinkByName(a.HostVeth)
		if err != nil {
			t.Errorf("host veth: %v", err)
			return
		}
		learned := false
		for range 100 { // the bridge learns as it receives, in softirq
			fdb, err := netlink.NeighList(hv.Attrs().Index, unix.AF_BRIDGE)
			if err != nil {
				t.Errorf("bridge fdb: %v", err)
				return
			}
			if slices.ContainsFunc(fdb, func(nb netlink.Neigh) bool { return nb.HardwareAddr.String() == mac.String() }) {
				learned = true
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !learned {
			t.Errorf("bridge did not learn %s on %s after the announcement", mac, a.HostVeth)
		}

		exp := netip.MustParsePrefix("10.40.1.254/24")
		for range 2 { // idempotent
			if err := AddBridgeAddr("wsa0", exp); err != nil {
				t.Errorf("AddBridgeAddr: %v", err)
			}
		}
		got, err := BridgeAddrs("wsa0")
		if err != nil || !slices.Contains(got, exp) {
			t.Errorf("BridgeAddrs = %v, %v; want %s", got, err, exp)
		}
		for range 2 {
			if err := DelBridgeAddr("wsa0", exp); err != nil {
				t.Errorf("DelBridgeAddr: %v", err)
			}
		}
		if got, _ := BridgeAddrs("wsa0"); slices.Contains(got, exp) {
			t.Errorf("address still there after DelBridgeAddr: %v", got)
		}
	})
}
