package api

import (
	"fmt"
	"net/netip"
	"strings"
)

// ParseAddrSpecs parses the address arguments `weave-switch attach` takes
// and a container's WEAVE_CIDR lists: each is an address with its prefix
// length (10.32.0.5/12), which goes to cidrs, or a subnet to allocate
// from, "net:CIDR", "net:default" or "app:NAME", which goes to subnets
// as written (the allocator checks it). Both keep the order of args. It
// returns an error naming the first argument that is neither.
func ParseAddrSpecs(args []string) (cidrs []netip.Prefix, subnets []string, err error) {
	for _, s := range args {
		if strings.HasPrefix(s, "net:") || strings.HasPrefix(s, "app:") {
			subnets = append(subnets, s)
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, nil, fmt.Errorf("%q is not an address with a prefix length (10.32.0.1/12), net:CIDR or app:NAME", s)
		}
		cidrs = append(cidrs, p)
	}
	return cidrs, subnets, nil
}
