package isolation

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Exposed is an address the host holds on the bridge (`expose`), and
// whether traffic between its subnet and the rest of the world is
// masqueraded.
type Exposed struct {
	// Addr is the host's address, with the subnet's prefix length.
	Addr netip.Prefix
	// Masquerade rewrites the source of traffic from the subnet that
	// leaves through another interface of the host to the host's
	// outgoing address, so that containers using the exposed address as
	// their gateway reach the outside world.
	//
	// Unlike Weave Net, traffic routed into the subnet from outside is not
	// masqueraded: where br_netfilter is on (the kernel default), frames
	// bridged between containers also pass the ip-family postrouting hook
	// with the bridge as output interface, and such a rule would rewrite
	// the source of frames already checked by the isolation filter. Use
	// `allow` for outside networks, or publish.
	Masquerade bool
}

// Kind says which way a Forward goes.
type Kind string

const (
	// Publish (export): a host port forwards to a container.
	Publish Kind = "publish"
	// Import: a port on the host's bridge address forwards to a service
	// outside the weave network.
	Import Kind = "import"
)

// Forward is one port forwarding (a published or imported service). For Publish, Listen is the host port
// (with an address, only connections to that address; without, any
// local address) and Target the container's address and port. For
// Import, Listen is the host's exposed address and a port, and Target the
// outside service. IPv4 only.
type Forward struct {
	Kind   Kind           `json:"kind"`
	Proto  string         `json:"proto"` // "tcp" or "udp"
	Listen netip.AddrPort `json:"listen"`
	Target netip.AddrPort `json:"target"`
}

// Key identifies a forwarding: two forwardings with the same key would take
// the same packets.
func (s Forward) Key() string {
	return fmt.Sprintf("%s %s %s", s.Kind, s.Proto, s.Listen)
}

// String formats the service as the CLI shows it.
func (s Forward) String() string {
	return fmt.Sprintf("%s %s %s -> %s", s.Kind, s.Proto, listenString(s.Listen), s.Target)
}

func listenString(l netip.AddrPort) string {
	if !l.Addr().IsValid() || l.Addr().IsUnspecified() {
		return fmt.Sprintf("*:%d", l.Port())
	}
	return l.String()
}

// Validate checks one service on its own.
func (s Forward) Validate() error {
	switch {
	case s.Kind != Publish && s.Kind != Import:
		return fmt.Errorf("service kind %q is not publish or import", s.Kind)
	case s.Proto != "tcp" && s.Proto != "udp":
		return fmt.Errorf("protocol %q is not tcp or udp", s.Proto)
	case s.Listen.Port() == 0 || s.Target.Port() == 0:
		return errors.New("ports must be 1 to 65535")
	case !s.Target.Addr().Is4() || s.Target.Addr().IsUnspecified():
		return fmt.Errorf("target %s is not an IPv4 host address (NAT is IPv4 only)", s.Target)
	case s.Listen.Addr().IsValid() && !s.Listen.Addr().Is4():
		return fmt.Errorf("listen address %s is not IPv4 (NAT is IPv4 only)", s.Listen.Addr())
	case s.Kind == Import && (!s.Listen.Addr().IsValid() || s.Listen.Addr().IsUnspecified()):
		return errors.New("an import listens on one of the host's exposed addresses: give ADDR:PORT")
	}
	return nil
}

// NAT is the host side of one bridge: exposed addresses and services.
type NAT struct {
	Exposed  []Exposed
	Forwards []Forward
}

// empty reports whether n needs no NAT table.
func (n NAT) empty() bool {
	if len(n.Forwards) > 0 {
		return false
	}
	for _, e := range n.Exposed {
		if e.Masquerade {
			return false
		}
	}
	return true
}

// ReplyMark is the packet mark bit (0x00800000) the ip table sets on the
// replies of connections masqueraded to the outside world, so that the
// bridge filter, which otherwise only lets a container receive from its
// application subnets, lets them back in. Other bits of the mark are
// left alone.
const ReplyMark = 0x00800000

// masquerades reports whether some exposed subnet is masqueraded.
func (n NAT) masquerades() bool {
	for _, e := range n.Exposed {
		if e.Masquerade && e.Addr.Addr().Is4() {
			return true
		}
	}
	return false
}

// NeedsForwarding reports whether n only works with IPv4 forwarding on
// (the host routes between the bridge and its other interfaces).
func (n NAT) NeedsForwarding() bool { return !n.empty() }

// writeNATChains writes the NAT chains of the ip-family table for n to b:
//
//	prerouting (dstnat)  publish: to a local address, from outside the
//	                     bridge, port P -> container; import: from the
//	                     bridge, to the exposed address, port P -> outside
//	output (dstnat)      publish, for connections the host itself makes
//	                     to its own non-loopback address
//	postrouting (srcnat) masquerade the forwarded flows so that replies come
//	                     back through this host, and the masquerading
//	                     that `expose --masquerade` asks for
//
// Every rule names the bridge as input or output interface in a way that
// frames bridged between containers (which br_netfilter shows to these
// hooks with the bridge as both input and output) never match, except
// the publish masquerade, which matches only flows this table DNATed.
func writeNATChains(b *strings.Builder, bridge string, n NAT) {
	if n.empty() {
		return
	}
	var pre, out, post []string
	for _, s := range n.Forwards {
		dst := ""
		if a := s.Listen.Addr(); a.IsValid() && !a.IsUnspecified() {
			dst = fmt.Sprintf("ip daddr %s ", a)
		}
		match := fmt.Sprintf("%s%s dport %d", dst, s.Proto, s.Listen.Port())
		switch s.Kind {
		case Publish:
			pre = append(pre, fmt.Sprintf("iifname != %q fib daddr type local %s dnat to %s", bridge, match, s.Target))
			out = append(out, fmt.Sprintf("ip daddr != 127.0.0.0/8 fib daddr type local %s dnat to %s", match, s.Target))
			post = append(post, fmt.Sprintf("oifname %q ct status dnat ip daddr %s %s dport %d masquerade",
				bridge, s.Target.Addr(), s.Proto, s.Target.Port()))
		case Import:
			pre = append(pre, fmt.Sprintf("iifname %q %s dnat to %s", bridge, match, s.Target))
			post = append(post, fmt.Sprintf("oifname != %q ct status dnat ip daddr %s %s dport %d masquerade",
				bridge, s.Target.Addr(), s.Proto, s.Target.Port()))
		}
	}
	for _, e := range n.Exposed {
		if !e.Masquerade || !e.Addr.Addr().Is4() {
			continue
		}
		sub := e.Addr.Masked()
		// Bridged frames always have the bridge as output interface, so
		// "oifname !=" keeps them out of this rule even under
		// br_netfilter.
		post = append(post, fmt.Sprintf("oifname != %q ip saddr %s ip daddr != %s masquerade", bridge, sub, sub))
	}
	chain := func(name, hook, prio string, rules []string) {
		fmt.Fprintf(b, "\tchain %s {\n\t\ttype nat hook %s priority %s; policy accept;\n", name, hook, prio)
		for _, r := range rules {
			fmt.Fprintf(b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	if n.masquerades() {
		// Marked before the reply is de-masqueraded (mangle runs after
		// conntrack, before dstnat), and only from outside the bridge.
		fmt.Fprintf(b, "\tchain mark-replies {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n")
		fmt.Fprintf(b, "\t\tiifname != %q ct direction reply ct status snat meta mark set meta mark | %#08x\n\t}\n", bridge, ReplyMark)
	}
	chain("prerouting", "prerouting", "dstnat", pre)
	chain("output", "output", "-100", out)
	chain("postrouting", "postrouting", "srcnat", post)
}
