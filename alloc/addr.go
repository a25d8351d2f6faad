package alloc

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
)

// span is a half-open interval [lo, hi) of IPv4 addresses as integers;
// hi is a uint64 so that a span can end at 2^32.
type span struct{ lo, hi uint64 }

func (s span) size() uint64 { return s.hi - s.lo }

func (s span) intersect(o span) span {
	lo, hi := max(s.lo, o.lo), min(s.hi, o.hi)
	if hi < lo {
		hi = lo
	}
	return span{lo, hi}
}

func addrToU32(a netip.Addr) uint32 {
	b := a.As4()
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

func u32ToAddr(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// prefixSpan is every address of p.
func prefixSpan(p netip.Prefix) span {
	lo := uint64(addrToU32(p.Masked().Addr()))
	return span{lo, lo + 1<<(32-p.Bits())}
}

// usable is the addresses of subnet p a container may get: all but the
// network and broadcast addresses, for subnets of four addresses or more.
func usable(p netip.Prefix) span {
	s := prefixSpan(p)
	if p.Bits() <= 30 {
		s.lo++
		s.hi--
	}
	return s
}

// checkPrefix reports whether p is an IPv4 prefix the allocator handles.
func checkPrefix(p netip.Prefix) error {
	if !p.IsValid() || !p.Addr().Is4() {
		return fmt.Errorf("%v is not an IPv4 CIDR", p)
	}
	if p.Bits() < 8 {
		return fmt.Errorf("%v is too large (at most a /8)", p)
	}
	return nil
}

// ErrNoAppSubnets is returned by AppSubnet for a range too small to
// carve application subnets from.
var ErrNoAppSubnets = errors.New("the allocation range is too small for application subnets (needs at least a /22)")

// DefaultSubnet is the subnet `attach` allocates from without a subnet
// given: the lower half of the range (10.32.0.0/13 for 10.32.0.0/12).
func DefaultSubnet(universe netip.Prefix) netip.Prefix {
	if universe.Bits() >= 31 {
		return universe.Masked()
	}
	return netip.PrefixFrom(universe.Masked().Addr(), universe.Bits()+1)
}

// AppSubnet maps an application name to its subnet: one /24 of the upper
// half of the range, chosen by an FNV-1a hash of the name, so every peer
// maps a name to the same subnet without asking anyone (2048 subnets in
// 10.40.0.0/13 for the default range). Two names can hash to the same
// /24; `net:CIDR` gives an application a chosen subnet instead.
func AppSubnet(universe netip.Prefix, name string) (netip.Prefix, error) {
	if universe.Bits() > 22 {
		return netip.Prefix{}, ErrNoAppSubnets
	}
	if name == "" {
		return netip.Prefix{}, errors.New("empty application name")
	}
	upper := prefixSpan(universe)
	upper.lo += upper.size() / 2
	n := upper.size() / 256
	h := fnv.New32a()
	h.Write([]byte(name))
	idx := uint64(h.Sum32()) % n
	return netip.PrefixFrom(u32ToAddr(uint32(upper.lo+idx*256)), 24), nil
}

// ParseSubnet reads an attach spec's subnet: "net:CIDR", "app:NAME", or
// "" / "net:default" for the default subnet.
func ParseSubnet(universe, defaultSubnet netip.Prefix, spec string) (netip.Prefix, error) {
	switch {
	case spec == "" || spec == "net:default":
		return defaultSubnet, nil
	case len(spec) > 4 && spec[:4] == "app:":
		return AppSubnet(universe, spec[4:])
	case len(spec) > 4 && spec[:4] == "net:":
		p, err := netip.ParsePrefix(spec[4:])
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s: %w", spec, err)
		}
		if err := checkPrefix(p); err != nil {
			return netip.Prefix{}, err
		}
		p = p.Masked()
		if !universe.Contains(p.Addr()) || p.Bits() < universe.Bits() {
			return netip.Prefix{}, fmt.Errorf("%s is not inside the allocation range %s", p, universe)
		}
		return p, nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not net:CIDR, net:default or app:NAME", spec)
}
