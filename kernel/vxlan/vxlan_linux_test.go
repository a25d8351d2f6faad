package vxlan

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to create namespaces, bridges and vxlan devices")
	}
}

var nsSeq atomic.Int32

// newNS creates a network namespace with a name unique to this run,
// removed when the test ends.
func newNS(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("ws-vxt-%d-%d", os.Getpid(), nsSeq.Add(1))
	run(t, "", "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run(t, name, "ip", "link", "set", "lo", "up")
	return name
}

// run runs a command, in namespace ns if not empty, and returns its
// output; it fails the test if the command fails.
func run(t *testing.T, ns string, args ...string) string {
	t.Helper()
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNS runs fn on a locked OS thread in namespace name; the thread is
// discarded afterwards.
func inNS(t *testing.T, name string, fn func()) {
	t.Helper()
	done := make(chan any)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer func() { done <- recover() }()
		h, err := netns.GetFromName(name)
		if err != nil {
			panic(err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			panic(err)
		}
		fn()
	}()
	if p := <-done; p != nil {
		t.Fatalf("in namespace %s: %v", name, p)
	}
}

type testHost struct {
	ns, cns string
	name    frame.PeerName
	addr    netip.Addr
	mac     frame.MAC
	ip      string
	dp      *Datapath
}

// TestVXLANBackend builds two hosts joined by a veth underlay, each with a
// bridge, a stand-in for the router's TAP and one container, and checks
// that the backend's entries carry the containers' unicast over vxlan,
// follow the link state, and vanish on Close.
func TestVXLANBackend(t *testing.T) {
	requireRoot(t)
	h := []*testHost{
		{name: 0x0a0000000001, addr: netip.MustParseAddr("192.168.77.1"), mac: frame.MAC{0x02, 0xcc, 0, 0, 0, 1}, ip: "10.9.0.1"},
		{name: 0x0a0000000002, addr: netip.MustParseAddr("192.168.77.2"), mac: frame.MAC{0x02, 0xcc, 0, 0, 0, 2}, ip: "10.9.0.2"},
	}
	for _, x := range h {
		x.ns, x.cns = newNS(t), newNS(t)
	}
	run(t, h[0].ns, "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0", "netns", h[1].ns)
	for _, x := range h {
		run(t, x.ns, "ip", "addr", "add", x.addr.String()+"/24", "dev", "u0")
		run(t, x.ns, "ip", "link", "set", "u0", "up")
		run(t, x.ns, "ip", "link", "add", "br0", "mtu", "1400", "type", "bridge")
		run(t, x.ns, "ip", "link", "set", "br0", "up")
		run(t, x.ns, "ip", "link", "add", "tp0", "mtu", "1400", "master", "br0", "type", "veth", "peer", "name", "tp1")
		run(t, x.ns, "ip", "link", "set", "tp0", "up")
		run(t, x.ns, "ip", "link", "set", "tp1", "up")
		run(t, x.ns, "ip", "link", "add", "c0", "mtu", "1400", "master", "br0", "type", "veth", "peer", "name", "eth0", "netns", x.cns)
		run(t, x.ns, "ip", "link", "set", "c0", "up")
		run(t, x.cns, "ip", "link", "set", "eth0", "address", x.mac.String(), "up")
		run(t, x.cns, "ip", "addr", "add", x.ip+"/24", "dev", "eth0")
	}
	// No userspace path in this test: ARP is static.
	run(t, h[0].cns, "ip", "neigh", "replace", h[1].ip, "lladdr", h[1].mac.String(), "dev", "eth0", "nud", "permanent")
	run(t, h[1].cns, "ip", "neigh", "replace", h[0].ip, "lladdr", h[0].mac.String(), "dev", "eth0", "nud", "permanent")

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, x := range h {
		inNS(t, x.ns, func() {
			dp, err := New(kernel.Env{Self: x.name, Bridge: "br0", TAP: "tp0", MTU: 1400, Logger: log})
			if err != nil {
				panic(err)
			}
			x.dp = dp
		})
		t.Cleanup(func() { inNS(t, x.ns, func() { x.dp.Close() }) })
	}
	view := func(self, other *testHost, st kernel.LinkState) *kernel.View {
		return &kernel.View{Self: self.name,
			Links: map[frame.PeerName]kernel.Link{other.name: {Addr: other.addr, State: st}},
			MACs:  map[frame.MAC]frame.PeerName{self.mac: self.name, other.mac: other.name},
		}
	}
	update := func(st kernel.LinkState) {
		t.Helper()
		for i, x := range h {
			inNS(t, x.ns, func() {
				if err := x.dp.Update(view(x, h[1-i], st)); err != nil {
					panic(err)
				}
			})
		}
	}
	fdb := func(x *testHost) string { return run(t, x.ns, "bridge", "fdb", "show", "dev", "br0-vx") }

	update(kernel.LinkUp)
	out := fdb(h[0])
	for _, want := range []string{
		h[1].mac.String() + " sticky master br0 static",
		h[1].mac.String() + " dst 192.168.77.2 self permanent",
		kernel.HeartbeatMAC(h[1].name).String() + " dst 192.168.77.2 self permanent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("h0 fdb lacks %q:\n%s", want, out)
		}
	}
	tap := run(t, h[0].ns, "bridge", "fdb", "show", "dev", "tp0")
	if want := kernel.HeartbeatMAC(h[0].name).String() + " master br0 static"; !strings.Contains(tap, want) {
		t.Errorf("tp0 lacks %q:\n%s", want, tap)
	}
	if s := h[0].dp.Stats(); s.Entries != 1 || s.Installed != 2 || s.Errors != 0 {
		t.Errorf("stats %+v, want 1 MAC entry, 2 installed (MAC and heartbeat), no errors", s)
	}
	if e := h[0].dp.Entries(); len(e) != 3 {
		t.Errorf("Entries() = %+v, want own heartbeat, peer heartbeat, one MAC", e)
	}
	// The containers talk over vxlan, at full MTU (1400 - 28 of ICMP).
	pinged := time.Now().Add(-time.Second) // the FDB keeps jiffies; allow their rounding
	run(t, h[0].cns, "ping", "-c", "3", "-i", "0.2", "-W", "5", "-M", "do", "-s", "1372", h[1].ip)
	before := run(t, h[0].ns, "cat", "/sys/class/net/br0-vx/statistics/tx_packets")
	update(kernel.LinkUp) // reads the kernel's last-use times
	if used, ok := h[0].dp.Used()[h[1].mac]; !ok || used.Before(pinged) {
		t.Errorf("Used()[%s] = %v, %v: want a time from the ping (after %v)", h[1].mac, used, ok, pinged)
	}

	// Re-applying changes nothing; an entry someone deleted comes back.
	run(t, h[0].ns, "bridge", "fdb", "del", h[1].mac.String(), "dev", "br0-vx", "master")
	update(kernel.LinkUp)
	if s := h[0].dp.Stats(); s.Installed != 3 {
		t.Errorf("after repair installed %d, want 3", s.Installed)
	}
	run(t, h[0].cns, "ping", "-c", "1", "-W", "5", h[1].ip)

	// The link falls back: the MAC entries go, the heartbeat stays.
	update(kernel.LinkProbe)
	out = fdb(h[0])
	if strings.Contains(out, h[1].mac.String()) {
		t.Errorf("after fallback the fdb still has %s:\n%s", h[1].mac, out)
	}
	if !strings.Contains(out, kernel.HeartbeatMAC(h[1].name).String()) {
		t.Errorf("after fallback the heartbeat entry is gone:\n%s", out)
	}
	if s := h[0].dp.Stats(); s.Entries != 0 || s.Removed != 1 {
		t.Errorf("after fallback stats %+v", s)
	}
	if before == "" {
		t.Error("no tx counter")
	}

	// Close removes the device and the TAP entry.
	inNS(t, h[0].ns, func() {
		if err := h[0].dp.Close(); err != nil {
			panic(err)
		}
		if err := h[0].dp.Close(); err != nil {
			panic(err)
		}
	})
	if out, err := exec.Command("ip", "netns", "exec", h[0].ns, "ip", "link", "show", "br0-vx").CombinedOutput(); err == nil {
		t.Errorf("br0-vx still exists after Close: %s", out)
	}
	tap = run(t, h[0].ns, "bridge", "fdb", "show", "dev", "tp0")
	if strings.Contains(tap, kernel.HeartbeatMAC(h[0].name).String()) {
		t.Errorf("heartbeat entry left on tp0 after Close:\n%s", tap)
	}

	// A leftover device of the same name (a crashed run) is replaced.
	inNS(t, h[1].ns, func() {
		dp, err := New(kernel.Env{Self: h[1].name, Bridge: "br0", TAP: "tp0", MTU: 1400, Logger: log})
		if err != nil {
			panic(err)
		}
		h[1].dp = dp
	})
	if out := fdb(h[1]); strings.Contains(out, h[0].mac.String()) {
		t.Errorf("a new backend kept old entries:\n%s", out)
	}
}
