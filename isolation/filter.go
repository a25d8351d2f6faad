package isolation

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// ICMPv6 types a container may send from a link-local or unspecified
// source: router solicitation, neighbour solicitation and advertisement,
// MLD reports and done. Router advertisements and redirects are not among
// them, so a container cannot steer another one's IPv6 routing.
var ndFromContainer = []string{
	"nd-router-solicit", "nd-neighbor-solicit", "nd-neighbor-advert",
	"mld-listener-report", "mld-listener-done", "mld2-listener-report",
}

// ICMPv6 types a container receives from link-local or unspecified
// sources: the above plus router advertisements and MLD queries (which only
// the host can send; other containers' are dropped where they enter).
var ndToContainer = append(slices.Clone(ndFromContainer), "nd-router-advert", "mld-listener-query")

// TableName is the name of the router's nftables tables for a bridge: one
// in the bridge family (isolation), one in the ip family (NAT).
func TableName(bridge string) string { return "weave-switch-" + bridge }

// inChain and outChain name a port's chains.
func inChain(ifname string) string  { return "in-" + ifname }
func outChain(ifname string) string { return "out-" + ifname }

// writeFilterTable writes the bridge-family table that enforces p, in the
// nft language, to b. Every port gets two chains:
//
//   - in-PORT, for frames the container sends (bridge forward and input
//     hooks, by input interface): anti-spoofing. The source MAC must be
//     the port's; IPv4 and IPv6 must come from one of its addresses; ARP
//     must be Ethernet/IPv4 with the port's MAC and one of its addresses
//     (or 0.0.0.0, a probe) as sender; IPv6 from link-local or :: sources
//     only as neighbour discovery or MLD. Everything else (other
//     EtherTypes, VLAN tags, raw frames) is dropped.
//   - out-PORT, for frames delivered to the container (forward and output
//     hooks, by output interface), from local containers, the host and
//     the router's TAP alike: the subnet rule. IPv4/IPv6 and ARP must come
//     from a source in Policy.Accepted; ARP probes (sender 0.0.0.0) only
//     for a target there; link-local IPv6 only as neighbour discovery or
//     MLD. Everything else is dropped.
//
// Remote containers' frames were checked by the in-chain on their own
// host before they reached the overlay, so the out-chain's source test is
// as strong across hosts as on one host.
//
// The forward and input hooks drop frames from the unknown ports that
// the policy does not list ("unknown port"). A bridge-family hook sees
// every bridge of the host, so the rule names the ports it drops rather
// than the ones it lets through.
//
// With masquerade, the replies of the connections containers opened to
// the outside world come back from outside addresses; the ip table marks
// them (ReplyMark) on their way in, and the out-chain lets marked frames
// through.
func writeFilterTable(b *strings.Builder, table string, p Policy, masq bool, unknown []string) {
	fmt.Fprintf(b, "table bridge %s {\n", table)
	for _, pt := range p.Ports {
		writeInChain(b, pt)
		writeOutChain(b, pt, p.Accepted(pt), masq)
	}
	var in, out []string
	for _, pt := range p.Ports {
		in = append(in, fmt.Sprintf("%q : jump %s", pt.Ifname, inChain(pt.Ifname)))
		out = append(out, fmt.Sprintf("%q : jump %s", pt.Ifname, outChain(pt.Ifname)))
	}
	hook := func(name, hook string, rules ...string) {
		fmt.Fprintf(b, "\tchain %s {\n\t\ttype filter hook %s priority filter; policy accept;\n", name, hook)
		for _, r := range rules {
			fmt.Fprintf(b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	var inRule, outRule []string
	if len(p.Ports) > 0 {
		inRule = []string{"iifname vmap { " + strings.Join(in, ", ") + " }"}
		outRule = []string{"oifname vmap { " + strings.Join(out, ", ") + " }"}
	}
	listed := map[string]bool{}
	for _, pt := range p.Ports {
		listed[pt.Ifname] = true
	}
	var drop []string
	for _, n := range unknown {
		if !listed[n] {
			listed[n] = true
			drop = append(drop, fmt.Sprintf("%q", n))
		}
	}
	if len(drop) > 0 {
		inRule = append(inRule, "iifname "+set(drop)+" counter drop comment \"unknown port\"")
	}
	hook("forward", "forward", append(inRule, outRule...)...)
	hook("input", "input", inRule...)
	hook("output", "output", outRule...)
	b.WriteString("}\n")
}

func writeInChain(b *strings.Builder, pt Port) {
	v4, v6 := splitAddrs(pt.Addrs)
	fmt.Fprintf(b, "\tchain %s {\n", inChain(pt.Ifname))
	fmt.Fprintf(b, "\t\tether saddr != %s counter drop comment \"spoofed MAC\"\n", pt.MAC)
	if len(v4) > 0 {
		fmt.Fprintf(b, "\t\tether type ip ip saddr %s return\n", set(v4))
		fmt.Fprintf(b, "\t\tether type arp arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether %s arp saddr ip %s return\n",
			pt.MAC, set(append([]string{"0.0.0.0"}, v4...)))
	}
	if len(v6) > 0 {
		fmt.Fprintf(b, "\t\tether type ip6 ip6 saddr %s return\n", set(v6))
	}
	fmt.Fprintf(b, "\t\tether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type %s return\n", set(ndFromContainer))
	b.WriteString("\t\tcounter drop comment \"spoofed address or protocol\"\n\t}\n")
}

func writeOutChain(b *strings.Builder, pt Port, accepted []netip.Prefix, masq bool) {
	var v4, v6 []string
	for _, a := range accepted {
		if a.Addr().Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	fmt.Fprintf(b, "\tchain %s {\n", outChain(pt.Ifname))
	if masq {
		fmt.Fprintf(b, "\t\tmeta mark & %#08x == %#08x return comment \"reply to masqueraded\"\n", ReplyMark, ReplyMark)
	}
	if len(v4) > 0 {
		fmt.Fprintf(b, "\t\tether type ip ip saddr %s return\n", set(v4))
		fmt.Fprintf(b, "\t\tether type arp arp saddr ip %s return\n", set(v4))
		fmt.Fprintf(b, "\t\tether type arp arp saddr ip 0.0.0.0 arp daddr ip %s return\n", set(v4))
	}
	if len(v6) > 0 {
		fmt.Fprintf(b, "\t\tether type ip6 ip6 saddr %s return\n", set(v6))
	}
	fmt.Fprintf(b, "\t\tether type ip6 ip6 saddr { ::, fe80::/10 } icmpv6 type %s return\n", set(ndToContainer))
	b.WriteString("\t\tcounter drop comment \"other application\"\n\t}\n")
}

func splitAddrs(addrs []netip.Addr) (v4, v6 []string) {
	sorted := slices.Clone(addrs)
	slices.SortFunc(sorted, func(a, b netip.Addr) int { return a.Compare(b) })
	sorted = slices.Compact(sorted)
	for _, a := range sorted {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	return v4, v6
}

// set formats an anonymous nft set.
func set(elems []string) string { return "{ " + strings.Join(elems, ", ") + " }" }
