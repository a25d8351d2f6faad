package ipam

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/frame"
)

// ParseRange reads --ipalloc-range: an IPv4 CIDR from /8 to /30; empty
// means alloc.DefaultUniverse.
func ParseRange(s string) (netip.Prefix, error) {
	if s == "" {
		return alloc.DefaultUniverse, nil
	}
	p, err := netip.ParsePrefix(s)
	if err == nil && (!p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 30) {
		err = errors.New("want an IPv4 CIDR from /8 to /30")
	}
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("--ipalloc-range %q: %w", s, err)
	}
	return p.Masked(), nil
}

// ParseSeeds reads --ipalloc-seed values: the peers the allocation ring
// is made with. Without seeds, a router that has no peers to join (the
// first of a cluster) seeds the ring alone and yields: it gives way to a
// peer's ring while its own is unused.
func ParseSeeds(seeds []string, self frame.PeerName, hasPeers bool) (out []frame.PeerName, yield bool, err error) {
	for _, s := range seeds {
		p, perr := frame.ParsePeerName(s)
		if perr != nil {
			err = errors.Join(err, fmt.Errorf("--ipalloc-seed %q: %w (seeds are peer names, see --name)", s, perr))
		}
		out = append(out, p)
	}
	if err != nil {
		return nil, false, err
	}
	if len(out) == 0 && !hasPeers {
		return []frame.PeerName{self}, true, nil
	}
	return out, false, nil
}
