package isolation

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
)

// Port is one container's port on the bridge: the host side of its veth,
// the MAC and addresses it was given, and the application subnets those
// addresses belong to.
type Port struct {
	// Ifname is the bridge-side interface (the host end of the veth).
	Ifname string
	// MAC is the only source MAC the container may use.
	MAC frame.MAC
	// Addrs are the only source addresses the container may use (the
	// prefix length is ignored here).
	Addrs []netip.Addr
	// Subnets are the application subnets the container is in: it
	// receives IP and ARP only from these, and from the subnets an allowed
	// Pair joins to them.
	Subnets []netip.Prefix
}

// Pair is an explicit exception to isolation: containers in A and
// containers in B may talk, both ways.
type Pair struct{ A, B netip.Prefix }

// NewPair returns the pair in its canonical order (the smaller prefix
// first), so that "allow A B" and "allow B A" are the same rule.
func NewPair(a, b netip.Prefix) Pair {
	a, b = a.Masked(), b.Masked()
	if comparePrefix(b, a) < 0 {
		a, b = b, a
	}
	return Pair{A: a, B: b}
}

// String formats the pair as "A B".
func (p Pair) String() string { return p.A.String() + " " + p.B.String() }

// Policy is the whole isolation state of one bridge: every container port
// and every allowed pair. It is a value: build a new one for every change.
type Policy struct {
	Ports []Port
	Allow []Pair
}

// Validate checks what would otherwise make a broken ruleset: interface
// names the rule language cannot carry, duplicate ports, a port without
// addresses, a multicast or zero MAC, addresses outside every subnet of
// the port.
func (p Policy) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for _, pt := range p.Ports {
		if err := checkName(pt.Ifname); err != nil {
			errs = append(errs, fmt.Errorf("port %q: %w", pt.Ifname, err))
			continue
		}
		if seen[pt.Ifname] {
			errs = append(errs, fmt.Errorf("port %q listed twice", pt.Ifname))
		}
		seen[pt.Ifname] = true
		if pt.MAC.IsMulticast() || pt.MAC.IsZero() {
			errs = append(errs, fmt.Errorf("port %q: %s is not a unicast MAC", pt.Ifname, pt.MAC))
		}
		if len(pt.Addrs) == 0 {
			errs = append(errs, fmt.Errorf("port %q has no address", pt.Ifname))
		}
		for _, a := range pt.Addrs {
			if !a.IsValid() || a.Is4In6() {
				errs = append(errs, fmt.Errorf("port %q: invalid address %s", pt.Ifname, a))
				continue
			}
			if !slices.ContainsFunc(pt.Subnets, func(s netip.Prefix) bool { return s.Contains(a) }) {
				errs = append(errs, fmt.Errorf("port %q: address %s is in none of its subnets %v", pt.Ifname, a, pt.Subnets))
			}
		}
	}
	for _, pr := range p.Allow {
		if !pr.A.IsValid() || !pr.B.IsValid() {
			errs = append(errs, fmt.Errorf("allow %s: invalid prefix", pr))
		} else if pr.A.Addr().Is4() != pr.B.Addr().Is4() {
			errs = append(errs, fmt.Errorf("allow %s: mixes IPv4 and IPv6", pr))
		}
	}
	return errors.Join(errs...)
}

// Accepted returns the source prefixes the port receives IP and ARP from:
// its own subnets, plus B for every allowed pair whose A contains one of
// them, and A for every pair whose B does. The result is canonical:
// sorted, IPv4 first, with no prefix inside another.
func (p Policy) Accepted(pt Port) []netip.Prefix {
	out := slices.Clone(pt.Subnets)
	for _, s := range pt.Subnets {
		for _, pr := range p.Allow {
			if covers(pr.A, s) {
				out = append(out, pr.B)
			}
			if covers(pr.B, s) {
				out = append(out, pr.A)
			}
		}
	}
	return Canonical(out)
}

// covers reports whether outer contains all of inner.
func covers(outer, inner netip.Prefix) bool {
	return outer.Addr().Is4() == inner.Addr().Is4() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// Canonical masks the prefixes, sorts them (IPv4 first) and drops every
// prefix contained in another, so that nftables interval sets never see
// overlapping elements.
func Canonical(ps []netip.Prefix) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if p.IsValid() {
			out = append(out, p.Masked())
		}
	}
	slices.SortFunc(out, comparePrefix)
	out = slices.Compact(out)
	// Sorted by address then length, a prefix that covers later ones
	// comes first: keep a prefix only if the last kept one does not cover it.
	kept := out[:0]
	for _, p := range out {
		if len(kept) > 0 && covers(kept[len(kept)-1], p) {
			continue
		}
		kept = append(kept, p)
	}
	return kept
}

// comparePrefix orders IPv4 before IPv6, then by address, then shorter
// prefixes first.
func comparePrefix(a, b netip.Prefix) int {
	if c := cmp.Compare(a.Addr().BitLen(), b.Addr().BitLen()); c != 0 {
		return c
	}
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

// checkName accepts interface and bridge names that can appear in the
// ruleset verbatim: 1 to 15 of [A-Za-z0-9_.-].
func checkName(s string) error {
	if s == "" || len(s) > 15 {
		return fmt.Errorf("interface name %q must have 1 to 15 characters", s)
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("interface name %q: only letters, digits, '_', '.' and '-' are supported", s)
		}
	}
	return nil
}

// ParsePair reads "A,B" or "A B", two subnets of one IP family.
func ParsePair(s string) (Pair, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) != 2 {
		return Pair{}, errors.New("want two subnets, A,B")
	}
	a, err := netip.ParsePrefix(f[0])
	if err != nil {
		return Pair{}, err
	}
	b, err := netip.ParsePrefix(f[1])
	if err != nil {
		return Pair{}, err
	}
	if a.Addr().Is4() != b.Addr().Is4() {
		return Pair{}, errors.New("one subnet is IPv4, the other IPv6")
	}
	return NewPair(a, b), nil
}
