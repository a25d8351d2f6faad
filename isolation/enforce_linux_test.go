package isolation

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/nstest"
)

// bench is a host namespace with a bridge and container namespaces
// plugged into it, each with one address.
type bench struct {
	t     *testing.T
	host  string
	nft   NFT
	conts map[string]*cont
	rs    Ruleset
}

type cont struct {
	ns, port string
	mac      frame.MAC
	addr     netip.Prefix
}

func newBench(t *testing.T) *bench {
	nstest.RequireRoot(t)
	b := &bench{t: t, host: nstest.NS(t), conts: map[string]*cont{}}
	b.nft = NFT{Command: []string{"ip", "netns", "exec", b.host, "nft"}}
	if err := b.nft.Check(context.Background()); err != nil {
		t.Skipf("this kernel or system lacks nftables bridge filtering: %v", err)
	}
	nstest.Must(t, b.host, "ip", "link", "add", "br0", "type", "bridge")
	nstest.Must(t, b.host, "ip", "link", "set", "br0", "up")
	b.rs = Ruleset{Bridge: "br0", Isolate: true}
	return b
}

// add plugs a container called name with addr (a CIDR) into the bridge.
func (b *bench) add(name, addr string, macLast byte) *cont {
	c := &cont{ns: nstest.NS(b.t), port: "vt" + name, mac: frame.MAC{2, 0x77, 0, 0, 0, macLast}, addr: netip.MustParsePrefix(addr)}
	nstest.Veth(b.t, b.host, c.port, c.ns, "eth0")
	nstest.Must(b.t, b.host, "ip", "link", "set", c.port, "master", "br0")
	nstest.Must(b.t, c.ns, "ip", "link", "set", "eth0", "address", c.mac.String())
	nstest.Must(b.t, c.ns, "ip", "addr", "add", addr, "dev", "eth0", "nodad")
	b.conts[name] = c
	b.rs.Policy.Ports = append(b.rs.Policy.Ports, Port{Ifname: c.port, MAC: c.mac,
		Addrs: []netip.Addr{c.addr.Addr()}, Subnets: []netip.Prefix{c.addr.Masked()}})
	return c
}

func (b *bench) apply() {
	b.t.Helper()
	if err := b.rs.Validate(); err != nil {
		b.t.Fatal(err)
	}
	if err := b.nft.Apply(context.Background(), b.rs.Script()); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bench) ping(from, to string) bool {
	return nstest.Ping(b.conts[from].ns, b.conts[to].addr.Addr().String())
}

func (b *bench) drops(name string) Drops {
	b.t.Helper()
	d, err := b.nft.Drops(context.Background(), "br0")
	if err != nil {
		b.t.Fatal(err)
	}
	return d[b.conts[name].port]
}

// TestEnforcedIsolation builds two applications on one bridge and checks,
// with real traffic, that the filter (not routing) keeps them apart, that
// spoofing an address or a MAC gets nothing through, and that an allowed
// pair opens the way.
func TestEnforcedIsolation(t *testing.T) {
	b := newBench(t)
	b.add("a1", "10.40.1.1/24", 1)
	b.add("a2", "10.40.1.2/24", 2)
	b.add("b1", "10.40.2.1/24", 3)
	b.add("b2", "10.40.2.2/24", 4)
	// Routes across the subnets on the shared L2, so that only the
	// filter stands between the applications.
	for _, n := range []string{"a1", "a2"} {
		nstest.Must(t, b.conts[n].ns, "ip", "route", "add", "10.40.2.0/24", "dev", "eth0")
	}
	for _, n := range []string{"b1", "b2"} {
		nstest.Must(t, b.conts[n].ns, "ip", "route", "add", "10.40.1.0/24", "dev", "eth0")
	}
	if !b.ping("a1", "b1") {
		t.Fatal("without the filter a1 cannot reach b1: the test bench is broken")
	}
	nstest.Must(t, b.conts["a1"].ns, "ip", "neigh", "flush", "all")
	nstest.Must(t, b.conts["b1"].ns, "ip", "neigh", "flush", "all")

	b.apply()
	if !b.ping("a1", "a2") || !b.ping("b1", "b2") {
		out, _ := nstest.Run(b.host, "nft", "list", "ruleset")
		t.Fatal("containers of one application cannot reach each other", out)
	}
	if b.ping("a1", "b1") || b.ping("b2", "a2") {
		t.Fatal("two applications reach each other through the filter")
	}
	if d := b.drops("b1"); d.OtherApplication == 0 {
		t.Errorf("b1's port counted no drop from the other application: %+v", d)
	}

	t.Run("spoofed address", func(t *testing.T) {
		// b1 takes an address of application a and talks to a1 from it.
		nstest.Must(t, b.conts["b1"].ns, "ip", "addr", "add", "10.40.1.66/24", "dev", "eth0", "nodad")
		defer nstest.Must(t, b.conts["b1"].ns, "ip", "addr", "del", "10.40.1.66/24", "dev", "eth0")
		before := b.drops("b1").Spoofed
		if nstest.Ping(b.conts["b1"].ns, "10.40.1.1", "-I", "10.40.1.66") {
			t.Error("b1 reached a1 from a spoofed address of a")
		}
		if got := b.drops("b1").Spoofed; got <= before {
			t.Errorf("b1's spoof counter did not move (%d -> %d)", before, got)
		}
		if !b.ping("b1", "b2") {
			t.Error("b1's own traffic stopped after the spoofing attempt")
		}
	})
	t.Run("spoofed MAC", func(t *testing.T) {
		// b1 takes a1's MAC: even its own application hears nothing.
		ns := b.conts["b1"].ns
		nstest.Must(t, ns, "ip", "link", "set", "eth0", "address", b.conts["a1"].mac.String())
		defer nstest.Must(t, ns, "ip", "link", "set", "eth0", "address", b.conts["b1"].mac.String())
		nstest.Must(t, ns, "ip", "neigh", "flush", "all")
		if b.ping("b1", "b2") || b.ping("b1", "a1") {
			t.Error("b1 with a spoofed MAC got traffic through")
		}
		if d := b.drops("b1"); d.SpoofedMAC == 0 {
			t.Errorf("b1's MAC spoof counter did not move: %+v", d)
		}
	})
	t.Run("raw frames of another protocol", func(t *testing.T) {
		// An unknown EtherType from a's container does not reach b's,
		// nor even a's other container: only IPv4, ARP and IPv6 enter.
		before := b.drops("a1").Spoofed
		if !sendRaw(t, b.conts["a1"], 0x88b5) {
			t.Skip("no way to send a raw frame here")
		}
		if got := b.drops("a1").Spoofed; got <= before {
			t.Errorf("a raw 0x88b5 frame was not dropped at a1's port (%d -> %d)", before, got)
		}
	})
	t.Run("allowed pair", func(t *testing.T) {
		b.rs.Policy.Allow = []Pair{NewPair(netip.MustParsePrefix("10.40.2.0/24"), netip.MustParsePrefix("10.40.1.0/24"))}
		b.apply()
		if !b.ping("a1", "b1") || !b.ping("b2", "a2") {
			t.Error("allow 10.40.1.0/24 10.40.2.0/24 did not open the pair")
		}
		b.rs.Policy.Allow = nil
		b.apply()
		if b.ping("a1", "b1") {
			t.Error("deny did not close the pair again")
		}
	})
	t.Run("IPv6 neighbour discovery", func(t *testing.T) {
		// Global IPv6 within one application works (ND from link-local
		// and global sources passes); link-local pings across
		// applications do not.
		for n, a := range map[string]string{"a1": "fd00:1::1", "a2": "fd00:1::2"} {
			c := b.conts[n]
			nstest.Must(t, c.ns, "ip", "addr", "add", a+"/64", "dev", "eth0", "nodad")
			for i := range b.rs.Policy.Ports {
				if b.rs.Policy.Ports[i].Ifname == c.port {
					p := &b.rs.Policy.Ports[i]
					p.Addrs = append(p.Addrs, netip.MustParseAddr(a))
					p.Subnets = append(p.Subnets, netip.MustParsePrefix("fd00:1::/64"))
				}
			}
		}
		b.apply()
		if !nstest.Ping(b.conts["a1"].ns, "fd00:1::2") {
			t.Error("IPv6 inside one application does not work")
		}
		ll := linkLocal(t, b.conts["b1"].ns)
		if nstest.Ping(b.conts["a1"].ns, ll+"%eth0") {
			t.Errorf("a1 pinged b1's link-local address %s across applications", ll)
		}
	})

	t.Run("NAT rules load", func(t *testing.T) {
		// The kernel takes the NAT table with every kind of rule.
		b.rs.NAT = NAT{
			Exposed: []Exposed{{Addr: netip.MustParsePrefix("10.40.1.254/24"), Masquerade: true}},
			Forwards: []Forward{
				{Kind: Publish, Proto: "tcp", Listen: netip.MustParseAddrPort("0.0.0.0:8080"), Target: netip.MustParseAddrPort("10.40.1.1:80")},
				{Kind: Import, Proto: "udp", Listen: netip.MustParseAddrPort("10.40.1.254:53"), Target: netip.MustParseAddrPort("192.0.2.1:53")},
			},
		}
		b.apply()
		if !b.ping("a1", "a2") {
			t.Error("a1 -> a2 broken with NAT rules loaded")
		}
		b.rs.NAT = NAT{}
		b.apply()
	})

	if err := b.nft.Apply(context.Background(), DeleteScript("br0")); err != nil {
		t.Fatal(err)
	}
	if out, _ := nstest.Run(b.host, "nft", "list", "tables"); strings.Contains(out, "weave-switch") {
		t.Errorf("tables left after DeleteScript: %s", out)
	}
	if !b.ping("a1", "b1") {
		t.Error("after the tables are gone a1 does not reach b1: something else filters")
	}
}

func linkLocal(t *testing.T, ns string) string {
	out := nstest.Must(t, ns, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "fe80::") {
			return strings.Split(f, "/")[0]
		}
	}
	t.Fatalf("no link-local address in %s: %s", ns, out)
	return ""
}

// TestUnknownPortDropped: an unknown veth on the bridge (left by a run
// whose state was lost, or plugged in by someone else) sends nothing into
// the bridge, even to a container of its own subnet, and is counted; once
// it is a port of the policy (attached) it talks.
func TestUnknownPortDropped(t *testing.T) {
	b := newBench(t)
	b.add("a1", "10.40.1.1/24", 1)
	u := b.add("u1", "10.40.1.9/24", 9)
	known := b.rs.Policy.Ports[0]
	b.rs.Policy.Ports = b.rs.Policy.Ports[:1]
	b.rs.Unknown = []string{u.port}
	b.apply()
	if b.ping("u1", "a1") {
		t.Fatal("an unknown port reached a container through the filter")
	}
	out := nstest.Must(t, b.host, "nft", "list", "chain", "bridge", TableName("br0"), "forward")
	if !strings.Contains(out, `comment "unknown port"`) || strings.Contains(out, "packets 0 bytes 0 drop comment \"unknown port\"") {
		t.Errorf("the unknown port's frames were not counted:\n%s", out)
	}

	b.rs.Policy.Ports = []Port{known, {Ifname: u.port, MAC: u.mac, Addrs: []netip.Addr{u.addr.Addr()}, Subnets: []netip.Prefix{u.addr.Masked()}}}
	b.apply()
	if !b.ping("u1", "a1") {
		t.Error("once attached, the port does not reach a container of its subnet")
	}
	if err := b.nft.Apply(context.Background(), DeleteScript("br0")); err != nil {
		t.Fatal(err)
	}
}
