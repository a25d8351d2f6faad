package isolation

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weave-switch/weave-switch/frame"
)

func twoApps() Ruleset {
	return Ruleset{Bridge: "weave", Isolate: true, Policy: Policy{Ports: []Port{
		{Ifname: "vwsa", MAC: frame.MAC{2, 0, 0, 0, 0, 0xa}, Addrs: []netip.Addr{addr("10.40.1.5")}, Subnets: []netip.Prefix{pfx("10.40.1.0/24")}},
		{Ifname: "vwsb", MAC: frame.MAC{2, 0, 0, 0, 0, 0xb}, Addrs: []netip.Addr{addr("10.40.2.5"), addr("fd00:2::5")},
			Subnets: []netip.Prefix{pfx("10.40.2.0/24"), pfx("fd00:2::/64")}},
	}}}
}

// The whole script for two applications, as nft reads it: the golden
// text is the specification of the rules.
func TestScriptTwoApplications(t *testing.T) {
	want := `table bridge weave-switch-weave {}
delete table bridge weave-switch-weave
table ip weave-switch-weave {}
delete table ip weave-switch-weave
table bridge weave-switch-weave {
	chain in-vwsa {
		ether saddr != 02:00:00:00:00:0a counter drop comment "spoofed MAC"
		ether type ip ip saddr { 10.40.1.5 } return
		ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 02:00:00:00:00:0a arp saddr ip { 0.0.0.0, 10.40.1.5 } return
		ether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld-listener-done, mld2-listener-report } return
		counter drop comment "spoofed address or protocol"
	}
	chain out-vwsa {
		ether type ip ip saddr { 10.40.1.0/24 } return
		ether type arp arp saddr ip { 10.40.1.0/24 } return
		ether type arp arp saddr ip 0.0.0.0 arp daddr ip { 10.40.1.0/24 } return
		ether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld-listener-done, mld2-listener-report, nd-router-advert, mld-listener-query } return
		counter drop comment "other application"
	}
	chain in-vwsb {
		ether saddr != 02:00:00:00:00:0b counter drop comment "spoofed MAC"
		ether type ip ip saddr { 10.40.2.5 } return
		ether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 02:00:00:00:00:0b arp saddr ip { 0.0.0.0, 10.40.2.5 } return
		ether type ip6 ip6 saddr { fd00:2::5 } return
		ether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld-listener-done, mld2-listener-report } return
		counter drop comment "spoofed address or protocol"
	}
	chain out-vwsb {
		ether type ip ip saddr { 10.40.2.0/24 } return
		ether type arp arp saddr ip { 10.40.2.0/24 } return
		ether type arp arp saddr ip 0.0.0.0 arp daddr ip { 10.40.2.0/24 } return
		ether type ip6 ip6 saddr { fd00:2::/64 } return
		ether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, mld-listener-report, mld-listener-done, mld2-listener-report, nd-router-advert, mld-listener-query } return
		counter drop comment "other application"
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname vmap { "vwsa" : jump in-vwsa, "vwsb" : jump in-vwsb }
		oifname vmap { "vwsa" : jump out-vwsa, "vwsb" : jump out-vwsb }
	}
	chain input {
		type filter hook input priority filter; policy accept;
		iifname vmap { "vwsa" : jump in-vwsa, "vwsb" : jump in-vwsb }
	}
	chain output {
		type filter hook output priority filter; policy accept;
		oifname vmap { "vwsa" : jump out-vwsa, "vwsb" : jump out-vwsb }
	}
}
`
	r := twoApps()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, r.Script()); diff != "" {
		t.Errorf("Script() mismatch (-want +got):\n%s", diff)
	}
}

func TestScriptAllowPair(t *testing.T) {
	r := twoApps()
	r.Policy.Allow = []Pair{NewPair(pfx("10.40.2.0/24"), pfx("10.40.1.0/24"))}
	s := r.Script()
	for _, want := range []string{
		// each side now receives from the other
		"chain out-vwsa {\n\t\tether type ip ip saddr { 10.40.1.0/24, 10.40.2.0/24 } return",
		"chain out-vwsb {\n\t\tether type ip ip saddr { 10.40.1.0/24, 10.40.2.0/24 } return",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	// The IPv6 subnet of b is not part of the IPv4 pair.
	if !strings.Contains(s, "ether type ip6 ip6 saddr { fd00:2::/64 } return") {
		t.Errorf("b's IPv6 subnet rule changed:\n%s", s)
	}
}

// Unknown ports found on the bridge are dropped where they enter: in
// forward and input, by name (a bridge-family hook sees every bridge of
// the host, so nothing else is dropped), unless the policy lists them.
func TestScriptUnknown(t *testing.T) {
	r := twoApps()
	r.Unknown = []string{"vold1", "vwsa", "vold2"}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	s := r.Script()
	rule := `iifname { "vold1", "vold2" } counter drop comment "unknown port"`
	for _, want := range []string{
		"\t\tiifname vmap { \"vwsa\" : jump in-vwsa, \"vwsb\" : jump in-vwsb }\n\t\t" + rule + "\n\t\toifname vmap",
		"type filter hook input priority filter; policy accept;\n\t\tiifname vmap { \"vwsa\" : jump in-vwsa, \"vwsb\" : jump in-vwsb }\n\t\t" + rule + "\n\t}",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "unknown port") != 2 {
		t.Errorf("want the unknown-port rule in forward and input only:\n%s", s)
	}
	if strings.Contains(twoApps().Script(), "unknown port") {
		t.Error("no unknown ports, an unknown-port rule")
	}
	r.Unknown = []string{"vwsb"}
	if strings.Contains(r.Script(), "unknown port") {
		t.Error("a port of the policy is dropped as unknown")
	}
	r.Unknown = []string{"bad name with spaces"}
	if r.Validate() == nil {
		t.Error("a bad unknown name validated")
	}
}

func TestScriptNoPortsNoIsolation(t *testing.T) {
	r := Ruleset{Bridge: "br0", Isolate: true}
	s := r.Script()
	if strings.Contains(s, "vmap") {
		t.Errorf("empty policy renders a verdict map (nft rejects empty ones):\n%s", s)
	}
	if !strings.Contains(s, "chain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n\t}") {
		t.Errorf("empty policy should still hook forward with no rules:\n%s", s)
	}
	r.Isolate = false
	if got, want := r.Script(), DeleteScript("br0"); got != want {
		t.Errorf("without isolation or NAT the script only deletes:\n%s\nwant\n%s", got, want)
	}
}

func TestScriptNAT(t *testing.T) {
	r := Ruleset{Bridge: "weave", NAT: NAT{
		Exposed: []Exposed{
			{Addr: pfx("10.40.1.254/24"), Masquerade: true},
			{Addr: pfx("10.40.2.254/24")},               // no masquerade: no rule
			{Addr: pfx("fd00::1/64"), Masquerade: true}, // NAT is IPv4 only
		},
		Forwards: []Forward{
			{Kind: Publish, Proto: "tcp", Listen: netip.AddrPortFrom(netip.Addr{}, 8080), Target: netip.MustParseAddrPort("10.40.1.5:80")},
			{Kind: Publish, Proto: "udp", Listen: netip.MustParseAddrPort("198.18.0.1:5353"), Target: netip.MustParseAddrPort("10.40.1.5:53")},
			{Kind: Import, Proto: "tcp", Listen: netip.MustParseAddrPort("10.40.1.254:5432"), Target: netip.MustParseAddrPort("192.0.2.10:5432")},
		},
	}}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	want := `table bridge weave-switch-weave {}
delete table bridge weave-switch-weave
table ip weave-switch-weave {}
delete table ip weave-switch-weave
table ip weave-switch-weave {
	chain mark-replies {
		type filter hook prerouting priority mangle; policy accept;
		iifname != "weave" ct direction reply ct status snat meta mark set meta mark | 0x00800000
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname != "weave" fib daddr type local tcp dport 8080 dnat to 10.40.1.5:80
		iifname != "weave" fib daddr type local ip daddr 198.18.0.1 udp dport 5353 dnat to 10.40.1.5:53
		iifname "weave" ip daddr 10.40.1.254 tcp dport 5432 dnat to 192.0.2.10:5432
	}
	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local tcp dport 8080 dnat to 10.40.1.5:80
		ip daddr != 127.0.0.0/8 fib daddr type local ip daddr 198.18.0.1 udp dport 5353 dnat to 10.40.1.5:53
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "weave" ct status dnat ip daddr 10.40.1.5 tcp dport 80 masquerade
		oifname "weave" ct status dnat ip daddr 10.40.1.5 udp dport 53 masquerade
		oifname != "weave" ct status dnat ip daddr 192.0.2.10 tcp dport 5432 masquerade
		oifname != "weave" ip saddr 10.40.1.0/24 ip daddr != 10.40.1.0/24 masquerade
	}
}
`
	if diff := cmp.Diff(want, r.Script()); diff != "" {
		t.Errorf("Script() mismatch (-want +got):\n%s", diff)
	}
	if !r.NAT.NeedsForwarding() {
		t.Error("NeedsForwarding = false with services")
	}
	if (NAT{Exposed: []Exposed{{Addr: pfx("10.40.1.254/24")}}}).NeedsForwarding() {
		t.Error("NeedsForwarding = true for a plain expose")
	}
}

func TestServiceValidate(t *testing.T) {
	ok := Forward{Kind: Publish, Proto: "tcp", Listen: netip.AddrPortFrom(netip.Addr{}, 8080), Target: netip.MustParseAddrPort("10.40.1.5:80")}
	tests := []struct {
		name string
		mod  func(s *Forward)
		want string
	}{
		{"valid publish", func(s *Forward) {}, ""},
		{"valid import", func(s *Forward) {
			s.Kind, s.Listen = Import, netip.MustParseAddrPort("10.40.1.254:53")
		}, ""},
		{"bad kind", func(s *Forward) { s.Kind = "export" }, "not publish or import"},
		{"bad proto", func(s *Forward) { s.Proto = "sctp" }, "not tcp or udp"},
		{"port zero", func(s *Forward) { s.Listen = netip.AddrPortFrom(netip.Addr{}, 0) }, "1 to 65535"},
		{"v6 target", func(s *Forward) { s.Target = netip.MustParseAddrPort("[fd00::5]:80") }, "IPv4 only"},
		{"v6 listen", func(s *Forward) { s.Listen = netip.MustParseAddrPort("[fd00::1]:80") }, "IPv4 only"},
		{"unspecified target", func(s *Forward) { s.Target = netip.MustParseAddrPort("0.0.0.0:80") }, "not an IPv4 host"},
		{"import without address", func(s *Forward) { s.Kind = Import }, "exposed addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mod(&s)
			err := s.Validate()
			if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	r := Ruleset{Bridge: "weave", NAT: NAT{Forwards: []Forward{ok, ok}}}
	if err := r.Validate(); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate service: Validate() = %v", err)
	}
}

// With masquerade, every out-chain lets the marked replies of masqueraded
// connections in, first; without, no chain mentions the mark.
func TestScriptMasqueradeReplies(t *testing.T) {
	r := twoApps()
	if strings.Contains(r.Script(), "meta mark") {
		t.Errorf("mark rules without masquerade:\n%s", r.Script())
	}
	r.NAT.Exposed = []Exposed{{Addr: pfx("10.40.1.254/24"), Masquerade: true}}
	s := r.Script()
	for _, port := range []string{"vwsa", "vwsb"} {
		want := "chain out-" + port + " {\n\t\tmeta mark & 0x00800000 == 0x00800000 return comment \"reply to masqueraded\"\n"
		if !strings.Contains(s, want) {
			t.Errorf("out-chain of %s does not start with the reply rule:\n%s", port, s)
		}
	}
}
