package ovs

// These tests need the openvswitch kernel module. This machine's kernel
// has none, so they skip here and run for real in the VM that
// scripts/qemu-ovs-test.sh boots (`make qemu-test`).
//
// Topology, all inside one kernel as network namespaces:
//
//	cA1 10.40.0.1 ─┐                                              ┌─ cB1 10.40.0.3
//	cA2 10.40.0.2 ─┤ bridge weave + TAP          bridge weave + TAP ├─ cB2 10.40.0.4
//	               └ weave-dpb ═ datapath ─ vxlan ══ underlay ══ vxlan ─ datapath ═ weave-dpb ┘
//	                 host hA 198.51.100.1/24                        host hB 198.51.100.2/24
//
// Each host runs the backend under a real kernel.Controller that answers
// its misses. No userspace router runs, so there is no ARP over the
// overlay: the containers get static neighbour entries, and IPv6 is off
// everywhere so that nothing but the test's own traffic reaches the
// datapaths and "no misses in the second round" is exact.

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/kernel"
)

const (
	testBridge = "weave"
	testTAP    = "weave-tap"
	testMTU    = 1426
)

var (
	peerA = frame.PeerName(0x02000000000a)
	peerB = frame.PeerName(0x02000000000b)
	peerC = frame.PeerName(0x02000000000c) // exists only in Views: where a MAC moves to
	addrA = netip.MustParseAddr("198.51.100.1")
	addrB = netip.MustParseAddr("198.51.100.2")
	addrC = netip.MustParseAddr("198.51.100.3")
)

// requireOVS skips unless the test runs as root on a kernel with the
// openvswitch module.
func requireOVS(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) for namespaces, bridges and the OVS datapath")
	}
	c, err := openGenl()
	if err != nil {
		t.Fatalf("generic netlink: %v", err)
	}
	defer c.Close()
	if _, err := familyID(c, "ovs_datapath"); err != nil {
		t.Skipf("this kernel has no OVS datapath (ovs_datapath generic netlink family: %v); the test runs in the VM of scripts/qemu-ovs-test.sh", err)
	}
}

var nsSeq atomic.Int32

func newNS(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("ws-ovs-%d-%d", os.Getpid(), nsSeq.Add(1))
	run(t, "", "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	// In-process rather than a process per step: under TCG each spawn
	// costs tens of milliseconds.
	inNS(t, name, func() error {
		// No IPv6: router solicitations, MLD and DAD would add misses.
		// /proc/sys/net follows the opening thread's namespace.
		for _, f := range []string{"all", "default", "lo"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0o644); err != nil {
				return err
			}
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	return name
}

// nsFd opens namespace name for netlink's Namespace fields.
func nsFd(t *testing.T, name string) netlink.NsFd {
	t.Helper()
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return netlink.NsFd(h)
}

// vethBetween creates a veth pair with end a in namespace nsA and end b in
// nsB (created from this thread's namespace, moved at once).
func vethBetween(t *testing.T, a, nsA, b, nsB string, mtu int, mac frame.MAC) {
	t.Helper()
	attrs := netlink.LinkAttrs{Name: a, MTU: mtu, Namespace: nsFd(t, nsA)}
	if !mac.IsZero() {
		attrs.HardwareAddr = mac[:]
	}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: b, PeerNamespace: nsFd(t, nsB)}); err != nil {
		t.Fatalf("veth %s/%s: %v", a, b, err)
	}
}

// configure brings link up in namespace ns with an address (if any) on a
// bridge (if any) and static neighbours.
func configure(t *testing.T, ns, link, cidr, master string, neigh map[string]frame.MAC) {
	t.Helper()
	inNS(t, ns, func() error {
		l, err := netlink.LinkByName(link)
		if err != nil {
			return err
		}
		if cidr != "" {
			a, err := netlink.ParseAddr(cidr)
			if err != nil {
				return err
			}
			if err := netlink.AddrAdd(l, a); err != nil {
				return err
			}
		}
		if master != "" {
			if err := host.SetMaster(link, master, testMTU); err != nil {
				return err
			}
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		for ip, mac := range neigh {
			err := netlink.NeighSet(&netlink.Neigh{LinkIndex: l.Attrs().Index, State: netlink.NUD_PERMANENT,
				IP: net.ParseIP(ip), HardwareAddr: mac[:]})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

func run(t *testing.T, ns string, args ...string) string {
	t.Helper()
	out, err := runErr(ns, args...)
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(ns string, args ...string) (string, error) {
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return string(out), err
}

// inNS runs fn on a locked OS thread in namespace name; the thread is
// discarded afterwards, so no other goroutine ever runs there by accident.
func inNS(t *testing.T, name string, fn func() error) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		h, err := netns.GetFromName(name)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	if err := <-done; err != nil {
		t.Fatalf("in namespace %s: %v", name, err)
	}
}

// deciderRef lets the backend be built before the Controller that
// answers its misses.
type deciderRef struct {
	c atomic.Pointer[kernel.Controller]
}

func (r *deciderRef) Decide(h frame.Ethernet, from frame.PeerName) kernel.Decision {
	if c := r.c.Load(); c != nil {
		return c.Decide(h, from)
	}
	return kernel.Decision{}
}

type testHost struct {
	name  string
	self  frame.PeerName
	addr  netip.Addr
	ns    string
	conts map[string]string // container name -> namespace
	tap   *host.TAP
	dp    *Datapath
	ctl   *kernel.Controller
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// container MACs and addresses: cA1 .1, cA2 .2, cB1 .3, cB2 .4
var containers = []struct {
	name string
	mac  frame.MAC
	ip   string
}{
	{"A1", frame.MAC{2, 0, 0, 0, 0x0a, 1}, "10.40.0.1"},
	{"A2", frame.MAC{2, 0, 0, 0, 0x0a, 2}, "10.40.0.2"},
	{"B1", frame.MAC{2, 0, 0, 0, 0x0b, 1}, "10.40.0.3"},
	{"B2", frame.MAC{2, 0, 0, 0, 0x0b, 2}, "10.40.0.4"},
}

func macOf(name string) frame.MAC {
	for _, c := range containers {
		if c.name == name {
			return c.mac
		}
	}
	panic(name)
}

func ipOf(name string) string {
	for _, c := range containers {
		if c.name == name {
			return c.ip
		}
	}
	panic(name)
}

type testNet struct {
	a, b *testHost
}

// newTestNet builds the two hosts, their containers and backends, and
// brings both links up.
func newTestNet(t *testing.T, cfg Config) *testNet {
	t.Helper()
	requireOVS(t)
	leakcheck.Check(t, 5*time.Second) // routineMisses and the TAP reader end with Close
	t0 := time.Now()
	n := &testNet{
		a: &testHost{name: "A", self: peerA, addr: addrA, conts: map[string]string{}},
		b: &testHost{name: "B", self: peerB, addr: addrB, conts: map[string]string{}},
	}
	for _, h := range []*testHost{n.a, n.b} {
		h.ns = newNS(t)
	}
	// The underlay has room for the overlay MTU plus vxlan's 50 bytes;
	// with less, the full-MTU heartbeats (DF) would never cross.
	vethBetween(t, "ul0", n.a.ns, "ul0", n.b.ns, 1500, frame.MAC{})
	for _, h := range []*testHost{n.a, n.b} {
		configure(t, h.ns, "ul0", h.addr.String()+"/24", "", nil)
		inNS(t, h.ns, func() error {
			if _, err := host.EnsureBridge(host.Bridge{Name: testBridge, MTU: testMTU}); err != nil {
				return err
			}
			tap, err := host.OpenTAP(testTAP, false)
			if err != nil {
				return err
			}
			h.tap = tap
			return host.SetMaster(testTAP, testBridge, testMTU)
		})
		t.Cleanup(func() { h.tap.Close() })
	}
	t.Logf("setup: hosts in %v", time.Since(t0))
	for _, c := range containers {
		h := n.a
		if c.name[0] == 'B' {
			h = n.b
		}
		cns := newNS(t)
		h.conts[c.name] = cns
		hv := "v" + c.name
		vethBetween(t, "eth0", cns, hv, h.ns, testMTU, c.mac)
		configure(t, h.ns, hv, "", testBridge, nil)
		neigh := map[string]frame.MAC{}
		for _, o := range containers {
			if o.name != c.name {
				neigh[o.ip] = o.mac
			}
		}
		configure(t, cns, "eth0", c.ip+"/24", "", neigh)
	}
	t.Logf("setup: containers in %v", time.Since(t0))
	for _, h := range []*testHost{n.a, n.b} {
		h.clock = &fakeClock{t: time.Unix(1_000_000, 0)}
		c := cfg
		c.Now = h.clock.Now
		if c.SweepInterval == 0 {
			c.SweepInterval = -1 // the tests sweep by hand
		}
		ref := &deciderRef{}
		env := kernel.Env{Self: h.self, Bridge: testBridge, TAP: testTAP, MTU: testMTU, Decider: ref,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if testing.Verbose() {
			env.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("host", h.name)
		}
		inNS(t, h.ns, func() error {
			var err error
			h.dp, err = New(env, c)
			return err
		})
		t.Cleanup(func() {
			if err := h.dp.Close(); err != nil {
				t.Errorf("host %s: Close: %v", h.name, err)
			}
		})
		h.ctl = kernel.NewController(kernel.ControllerConfig{Self: h.self, Datapath: h.dp, Logger: env.Logger})
		ref.c.Store(h.ctl)
	}
	n.sync(t, true, nil)
	t.Logf("setup: backends in %v", time.Since(t0))
	return n
}

// sync gives both controllers the links (up: heartbeats just answered;
// otherwise never answered) and the MAC table, with overrides applied
// on host A only.
func (n *testNet) sync(t *testing.T, up bool, overrideA map[frame.MAC]frame.PeerName) {
	t.Helper()
	for _, h := range []*testHost{n.a, n.b} {
		other := n.b
		if h == n.b {
			other = n.a
		}
		in := kernel.LinkInput{Peer: other.self, Addr: other.addr}
		if up {
			in.LastAck = time.Now()
		}
		links := []kernel.LinkInput{in}
		macs := map[frame.MAC]frame.PeerName{}
		for _, c := range containers {
			owner := peerA
			if c.name[0] == 'B' {
				owner = peerB
			}
			macs[c.mac] = owner
		}
		if h == n.a {
			for m, p := range overrideA {
				macs[m] = p
				if p == peerC {
					links = append(links, kernel.LinkInput{Peer: peerC, Addr: addrC, LastAck: time.Now()})
				}
			}
		}
		if err := h.ctl.Sync(links, macs); err != nil {
			t.Fatalf("host %s: Sync: %v", h.name, err)
		}
	}
}

func (n *testNet) ping(t *testing.T, from, to string, count int) {
	t.Helper()
	ns := n.a.conts[from]
	if ns == "" {
		ns = n.b.conts[from]
	}
	run(t, ns, "ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "5", ipOf(to))
}

func (h *testHost) stats(t *testing.T) DatapathStats {
	t.Helper()
	s, err := h.dp.DatapathStats()
	if err != nil {
		t.Fatalf("host %s: %v", h.name, err)
	}
	return s
}

// kernelFlows dumps the datapath's flows as flowKeys, sorted.
func (h *testHost) kernelFlows(t *testing.T) []flowKey {
	t.Helper()
	h.dp.mu.Lock()
	infos, err := h.dp.mu.dp.EnumerateFlows()
	h.dp.mu.Unlock()
	if err != nil {
		t.Fatalf("host %s: dump flows: %v", h.name, err)
	}
	var out []flowKey
	groupDrop := false
	for _, fi := range infos {
		k, ok := keyFromODP(fi.FlowKeys)
		if !ok {
			t.Errorf("host %s: foreign flow %v", h.name, fi.FlowSpec)
			continue
		}
		if k.Group {
			groupDrop = true
			continue
		}
		out = append(out, k)
	}
	if !groupDrop {
		t.Errorf("host %s: the group drop flow is gone", h.name)
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// pairs renders flows as "src>dst" with the container names, for
// readable assertions.
func pairs(ks []flowKey) []string {
	name := map[frame.MAC]string{}
	for _, c := range containers {
		name[c.mac] = c.name
	}
	var out []string
	for _, k := range ks {
		dir := "out"
		if k.Tunnel {
			dir = "in"
		}
		out = append(out, fmt.Sprintf("%s>%s/%s", name[k.Src], name[k.Dst], dir))
	}
	slices.Sort(out)
	return out
}

func (h *testHost) bridgeEntries(t *testing.T) []string {
	t.Helper()
	out := run(t, h.ns, "bridge", "fdb", "show", "dev", h.dp.Names().BridgePort)
	var macs []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.Contains(l, "static") {
			macs = append(macs, f[0])
		}
	}
	slices.Sort(macs)
	return slices.Compact(macs) // the dump lists a port's master entries twice
}

func TestMissInstallsFlowsAndSecondRoundHitsOnly(t *testing.T) {
	n := newTestNet(t, Config{})
	a0, b0 := n.a.stats(t), n.b.stats(t)

	n.ping(t, "A1", "B1", 3)
	a1, b1 := n.a.stats(t), n.b.stats(t)
	if a1.Missed == a0.Missed || b1.Missed == b0.Missed {
		t.Errorf("round 1 caused no misses: A %d→%d, B %d→%d", a0.Missed, a1.Missed, b0.Missed, b1.Missed)
	}
	want := []string{"A1>B1/out", "B1>A1/in"}
	if got := pairs(n.a.kernelFlows(t)); !slices.Equal(got, want) {
		t.Errorf("host A flows = %v, want %v", got, want)
	}
	want = []string{"A1>B1/in", "B1>A1/out"}
	if got := pairs(n.b.kernelFlows(t)); !slices.Equal(got, want) {
		t.Errorf("host B flows = %v, want %v", got, want)
	}
	if s := n.a.dp.Stats(); s.Entries != 2 || s.Installed != 2 || s.Misses == 0 {
		t.Errorf("host A Stats = %+v, want 2 entries, 2 installed, some misses", s)
	}

	n.ping(t, "A1", "B1", 5)
	a2, b2 := n.a.stats(t), n.b.stats(t)
	if a2.Missed != a1.Missed || b2.Missed != b1.Missed {
		t.Errorf("round 2 missed: A %d→%d, B %d→%d; want no new misses", a1.Missed, a2.Missed, b1.Missed, b2.Missed)
	}
	if a2.Hit-a1.Hit < 10 || b2.Hit-b1.Hit < 10 {
		t.Errorf("round 2 hits: A %d, B %d; want ≥ 10 each (5 requests, 5 replies)", a2.Hit-a1.Hit, b2.Hit-b1.Hit)
	}
	if a2.Lost != 0 || b2.Lost != 0 {
		t.Errorf("lost upcalls: A %d, B %d", a2.Lost, b2.Lost)
	}
	t.Logf("host A datapath: %+v; backend %+v %+v", a2, n.a.dp.Stats(), n.a.dp.Counters())
	for _, e := range n.a.dp.Entries() {
		t.Logf("host A entry: %s %s peer=%s addr=%s %s", e.Kind, e.MAC, e.Peer, e.Addr, e.Detail)
	}
}

func TestIdleFlowsExpire(t *testing.T) {
	n := newTestNet(t, Config{IdleTimeout: time.Minute})
	n.ping(t, "A1", "B1", 2)
	n.ping(t, "A2", "B2", 2)
	if got := len(n.a.kernelFlows(t)); got != 4 {
		t.Fatalf("host A has %d flows, want 4", got)
	}
	// The first sweep sees the packets; then only A1<->B1 stays busy.
	if x, err := n.a.dp.sweep(); err != nil || x != 0 {
		t.Fatalf("first sweep expired %d (%v), want 0", x, err)
	}
	n.a.clock.Add(40 * time.Second)
	n.ping(t, "A1", "B1", 2)
	if x, err := n.a.dp.sweep(); err != nil || x != 0 {
		t.Fatalf("sweep at 40 s expired %d (%v), want 0", x, err)
	}
	n.a.clock.Add(30 * time.Second) // A2<->B2 idle for 70 s, A1<->B1 for 30 s
	x, err := n.a.dp.sweep()
	if err != nil || x != 2 {
		t.Fatalf("sweep at 70 s expired %d (%v), want the 2 flows of A2<->B2", x, err)
	}
	want := []string{"A1>B1/out", "B1>A1/in"}
	if got := pairs(n.a.kernelFlows(t)); !slices.Equal(got, want) {
		t.Errorf("host A flows after expiry = %v, want %v", got, want)
	}
	if c := n.a.dp.Counters(); c.Expired != 2 {
		t.Errorf("Expired = %d, want 2", c.Expired)
	}
	// Expired pairs come back through misses.
	before := n.a.stats(t).Missed
	n.ping(t, "A2", "B2", 2)
	if n.a.stats(t).Missed == before {
		t.Error("traffic after expiry caused no miss")
	}
	if got := len(n.a.kernelFlows(t)); got != 4 {
		t.Errorf("host A has %d flows after the pair came back, want 4", got)
	}
}

func TestMACMoveRemovesOnlyItsFlows(t *testing.T) {
	n := newTestNet(t, Config{})
	n.ping(t, "A1", "B1", 2)
	n.ping(t, "A2", "B2", 2)
	n.ping(t, "A1", "B2", 2)
	want := []string{"A1>B1/out", "A1>B2/out", "A2>B2/out", "B1>A1/in", "B2>A1/in", "B2>A2/in"}
	if got := pairs(n.a.kernelFlows(t)); !slices.Equal(got, want) {
		t.Fatalf("host A flows = %v, want %v", got, want)
	}
	// B1 moves to peer C: host A drops exactly the flows with B1 in them,
	// and its bridge entry for B1 now leads to C's tunnel.
	n.sync(t, true, map[frame.MAC]frame.PeerName{macOf("B1"): peerC})
	want = []string{"A1>B2/out", "A2>B2/out", "B2>A1/in", "B2>A2/in"}
	if got := pairs(n.a.kernelFlows(t)); !slices.Equal(got, want) {
		t.Errorf("after B1 moved, host A flows = %v, want %v", got, want)
	}
	if s := n.a.dp.Stats(); s.Removed != 2 || s.Entries != 4 {
		t.Errorf("after the move, Stats = %+v, want 2 removed, 4 entries", s)
	}
	// Host B saw no change: its flows all stay.
	if got := len(n.b.kernelFlows(t)); got != 6 {
		t.Errorf("host B has %d flows, want all 6", got)
	}
	// B1 back on B: traffic to it misses once more and flows again.
	n.sync(t, true, nil)
	n.ping(t, "A1", "B1", 2)
	if got := len(n.a.kernelFlows(t)); got != 6 {
		t.Errorf("host A has %d flows after B1 came back, want 6", got)
	}
}

func TestLinkDownWithdrawsAndRecovers(t *testing.T) {
	n := newTestNet(t, Config{})
	n.ping(t, "A1", "B1", 2)
	hbB := kernel.HeartbeatMAC(peerB).String()
	wantUp := []string{hbB, macOf("B1").String(), macOf("B2").String()}
	slices.Sort(wantUp)
	if got := n.a.bridgeEntries(t); !slices.Equal(got, wantUp) {
		t.Errorf("host A bridge entries on the datapath port = %v, want %v", got, wantUp)
	}
	// Heartbeats stop: the link drops to probing. Every flow that
	// depends on B goes, and so do the bridge entries of B's MACs, so the
	// bridge hands their traffic back to the TAP (the userspace path);
	// only B's heartbeat MAC still goes into the datapath.
	n.sync(t, false, nil)
	if st := n.a.ctl.Links(); len(st) != 1 || st[0].State != kernel.LinkProbe {
		t.Fatalf("links = %+v, want B probing", st)
	}
	if got := n.a.kernelFlows(t); len(got) != 0 {
		t.Errorf("host A flows with the link down = %v, want none", pairs(got))
	}
	if got := n.a.bridgeEntries(t); !slices.Equal(got, []string{hbB}) {
		t.Errorf("host A bridge entries with the link down = %v, want only the heartbeat MAC %s", got, hbB)
	}
	// Heartbeats answered again: back on the fast path.
	n.sync(t, true, nil)
	if got := n.a.bridgeEntries(t); !slices.Equal(got, wantUp) {
		t.Errorf("host A bridge entries after recovery = %v, want %v", got, wantUp)
	}
	before := n.a.stats(t)
	n.ping(t, "A1", "B1", 3)
	after := n.a.stats(t)
	if after.Missed == before.Missed || after.Hit == before.Hit {
		t.Errorf("after recovery: misses %d→%d, hits %d→%d; want both to grow", before.Missed, after.Missed, before.Hit, after.Hit)
	}
	if got := len(n.a.kernelFlows(t)); got != 2 {
		t.Errorf("host A has %d flows after recovery, want 2", got)
	}
}

// A full-MTU heartbeat frame written into A's TAP for B's heartbeat MAC
// crosses A's bridge, A's datapath, the vxlan tunnel and B's datapath and
// comes out of B's TAP.
func TestHeartbeatCrossesTheFastPath(t *testing.T) {
	n := newTestNet(t, Config{})
	hb := make([]byte, frame.EthernetHeaderSize+testMTU)
	dst, src := kernel.HeartbeatMAC(peerB), kernel.HeartbeatMAC(peerA)
	copy(hb[0:6], dst[:])
	copy(hb[6:12], src[:])
	hb[12], hb[13] = 0x88, 0xb5 // local experimental EtherType
	for i := frame.EthernetHeaderSize; i < len(hb); i++ {
		hb[i] = byte(i)
	}
	got := make(chan []byte, 1)
	go func() {
		b := frame.NewBatch(8, 0)
		for {
			k, err := n.b.tap.Read(b)
			if err != nil {
				close(got)
				return
			}
			for i := range k {
				if f := b.Frame(i); frame.Ethernet(f).Dst() == dst {
					got <- slices.Clone(f)
					return
				}
			}
		}
	}()
	out := frame.NewBatch(1, 0)
	out.Sizes[0] = copy(out.Room(0), hb)
	out.N = 1
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := n.a.tap.Write(out, []int{0}); err != nil {
			t.Fatalf("write heartbeat: %v", err)
		}
		select {
		case f, ok := <-got:
			if !ok {
				t.Fatal("B's TAP closed")
			}
			if !slices.Equal(f, hb) {
				t.Fatalf("heartbeat arrived changed: %d bytes, want %d", len(f), len(hb))
			}
			t.Logf("full-MTU heartbeat (%d bytes) crossed the fast path", len(f))
			return
		case <-tick.C:
		case <-deadline:
			n.b.tap.Close()
			t.Fatalf("no heartbeat reached B's TAP in 20 s; A %+v, B %+v", n.a.dp.Counters(), n.b.dp.Counters())
		}
	}
}

func TestCloseRemovesEverything(t *testing.T) {
	requireOVS(t)
	leakcheck.Check(t, 5*time.Second)
	ns := newNS(t)
	var names Names
	inNS(t, ns, func() error {
		if _, err := host.EnsureBridge(host.Bridge{Name: testBridge, MTU: testMTU}); err != nil {
			return err
		}
		tap, err := host.OpenTAP(testTAP, false)
		if err != nil {
			return err
		}
		t.Cleanup(func() { tap.Close() }) // closing removes the TAP: keep it for the checks below
		if err := host.SetMaster(testTAP, testBridge, testMTU); err != nil {
			return err
		}
		env := kernel.Env{Self: peerA, Bridge: testBridge, TAP: testTAP, MTU: testMTU, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		d, err := New(env, Config{})
		if err != nil {
			return err
		}
		// A second New replaces the first one's objects (a crashed run).
		d2, err := New(env, Config{})
		if err != nil {
			return fmt.Errorf("New over leftovers: %w", err)
		}
		names = d2.Names()
		if err := d2.Close(); err != nil {
			return err
		}
		if err := d2.Close(); err != nil {
			return fmt.Errorf("second Close: %w", err)
		}
		// d's objects are gone already; its Close reports that but must
		// not hang.
		_ = d.Close()
		return nil
	})
	links := run(t, ns, "ip", "-o", "link", "show")
	for _, name := range []string{names.Datapath, names.BridgePort, names.DatapathPort, names.VXLAN} {
		if strings.Contains(links, " "+name+":") || strings.Contains(links, " "+name+"@") {
			t.Errorf("%s left behind:\n%s", name, links)
		}
	}
	if out := run(t, ns, "bridge", "fdb", "show", "dev", testTAP); strings.Contains(out, kernel.HeartbeatMAC(peerA).String()) {
		t.Errorf("heartbeat entry left on the TAP:\n%s", out)
	}
}

func TestFlowTableBound(t *testing.T) {
	// The group drop flow counts: room for it and one conversation
	// direction only.
	n := newTestNet(t, Config{MaxFlows: 2})
	// A installs A1>B1 into the tunnel, B installs it out of the
	// tunnel; then both are full, so B refuses B1>A1 and the replies
	// go nowhere (here: no userspace path).
	if err := exec.Command("ip", "netns", "exec", n.a.conts["A1"], "ping", "-c", "2", "-W", "1", ipOf("B1")).Run(); err == nil {
		t.Error("ping passed with room for one flow per host")
	}
	for _, h := range []*testHost{n.a, n.b} {
		if got := len(h.kernelFlows(t)); got != 1 {
			t.Errorf("host %s has %d flows, want 1 (the bound)", h.name, got)
		}
	}
	if c := n.b.dp.Counters(); c.Full == 0 {
		t.Errorf("host B Counters = %+v, want misses refused for a full table", c)
	}
}
