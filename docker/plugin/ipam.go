package plugin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker"
)

// AddrKeyPrefix starts the allocator key of an address this driver
// handed to dockerd: "docker-addr:" and the address for a preferred one,
// "docker-addr:" and a random token for an allocated one. Each key holds
// one address; ReleaseAddress finds it by address among the allocator's
// keys, so a restarted router still releases what an earlier run handed
// out.
const AddrKeyPrefix = "docker-addr:"

// gatewayType is RequestAddress's option value for a network's gateway.
const (
	addressTypeOption = "RequestAddressType"
	gatewayType       = "com.docker.network.gateway"
)

// The address spaces are names only: the allocation range is one space.
var defaultSpaces = addressSpaces{LocalDefaultAddressSpace: "weave-switch", GlobalDefaultAddressSpace: "weave-switch"}

// ranges are the allocation range and the default subnet.
func (s *Service) ranges() (universe, def netip.Prefix, err error) {
	st := s.cfg.Addresses.Status()
	if universe, err = netip.ParsePrefix(st.Range); err != nil {
		return universe, def, fmt.Errorf("allocation range %q: %w", st.Range, err)
	}
	if def, err = netip.ParsePrefix(st.DefaultSubnet); err != nil {
		return universe, def, fmt.Errorf("default subnet %q: %w", st.DefaultSubnet, err)
	}
	return universe, def, nil
}

// poolSubnet is the subnet of a pool ID (a subnet spec).
func (s *Service) poolSubnet(poolID string) (netip.Prefix, error) {
	universe, def, err := s.ranges()
	if err != nil {
		return netip.Prefix{}, err
	}
	sub, err := alloc.ParseSubnet(universe, def, poolID)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("pool %q: %w", poolID, err)
	}
	return sub, nil
}

// requestPool implements IpamDriver.RequestPool: the network's subnet,
// from --subnet or --ipam-opt app=NAME / net=CIDR, the default subnet
// without either. Its pool ID is the subnet's spec.
func (s *Service) requestPool(_ context.Context, req requestPoolRequest) (requestPoolResponse, error) {
	if req.V6 {
		return requestPoolResponse{}, errors.New("weave-switch has no IPv6 addresses: create the network without --ipv6")
	}
	if req.SubPool != "" {
		return requestPoolResponse{}, fmt.Errorf("--ip-range %s: not supported; weave-switch allocates from the whole subnet", req.SubPool)
	}
	universe, def, err := s.ranges()
	if err != nil {
		return requestPoolResponse{}, err
	}
	var specs []string
	for k, v := range req.Options {
		switch k {
		case "app":
			specs = append(specs, "app:"+v)
		case "net":
			specs = append(specs, "net:"+v)
		default:
			if !strings.HasPrefix(k, "com.docker.") {
				return requestPoolResponse{}, fmt.Errorf("--ipam-opt %s: unknown (want app=NAME or net=CIDR)", k)
			}
		}
	}
	if req.Pool != "" {
		specs = append(specs, "net:"+req.Pool)
	}
	if len(specs) == 0 {
		specs = []string{"net:default"}
	}
	var sub netip.Prefix
	for i, spec := range specs {
		p, err := alloc.ParseSubnet(universe, def, spec)
		if err != nil {
			return requestPoolResponse{}, err
		}
		if i > 0 && p != sub {
			return requestPoolResponse{}, fmt.Errorf("%s and %s are different subnets: give one of --subnet, --ipam-opt app= and --ipam-opt net=", specs[0], spec)
		}
		sub = p
	}
	spec := specs[0]
	if sub == def {
		spec = "net:default"
	}
	if spec != "net:default" && sub.Overlaps(def) {
		return requestPoolResponse{}, fmt.Errorf("%s overlaps the default subnet %s: give the default subnet itself, or a subnet outside it", sub, def)
	}
	auto := req.Pool == "" && len(req.Options) == 0
	for id, n := range s.snapshot().Networks {
		if auto && n.Subnet == sub {
			// Docker asks again and again for a pool that does not
			// overlap one it has: say at once which subnet to give.
			return requestPoolResponse{}, fmt.Errorf("the default subnet %s is the subnet of docker network %.12s already: give this network a subnet of its own (--subnet CIDR or --ipam-opt app=NAME)", sub, id)
		}
		if n.Subnet != sub && n.Subnet.Overlaps(sub) {
			return requestPoolResponse{}, fmt.Errorf("%s overlaps the subnet %s of network %.12s", sub, n.Subnet, id)
		}
	}
	if sp, ok := strings.CutPrefix(spec, "net:"); ok && sp != "default" {
		spec = "net:" + sub.String()
	}
	return requestPoolResponse{PoolID: spec, Pool: sub.String()}, nil
}

// releasePool implements IpamDriver.ReleasePool: a pool holds nothing.
func (s *Service) releasePool(context.Context, releasePoolRequest) (empty, error) {
	return empty{}, nil
}

// requestAddress implements IpamDriver.RequestAddress: the gateway is
// this host's exposed address in the subnet; a preferred address is
// claimed, or granted when a container's own key holds it; else one is
// allocated.
func (s *Service) requestAddress(ctx context.Context, req requestAddressRequest) (requestAddressResponse, error) {
	sub, err := s.poolSubnet(req.PoolID)
	if err != nil {
		return requestAddressResponse{}, err
	}
	var want netip.Addr
	if req.Address != "" {
		if want, err = netip.ParseAddr(req.Address); err != nil {
			return requestAddressResponse{}, fmt.Errorf("address %q: %w", req.Address, err)
		}
		if !sub.Contains(want) || want == sub.Addr() || sub.Bits() <= 30 && want == lastAddr(sub) {
			return requestAddressResponse{}, fmt.Errorf("%s is not a host address of %s", want, sub)
		}
	}
	if req.Options[addressTypeOption] == gatewayType {
		s.netMu.Lock()
		defer s.netMu.Unlock()
		gw, err := s.ensureGateway(ctx, req.PoolID, sub, want)
		if err != nil {
			return requestAddressResponse{}, err
		}
		return requestAddressResponse{Address: gw.String()}, nil
	}
	if want.IsValid() {
		if key, ok := s.ownerOf(want); ok {
			if _, mine := docker.ContainerID(key); mine {
				// No container identity reaches the driver: the grant
				// trusts that only the container's own create asks for
				// its reserved address, and refuses it while an endpoint
				// has it.
				for id, ep := range s.snapshot().Endpoints {
					if slices.ContainsFunc(ep.Addrs, func(p netip.Prefix) bool { return p.Addr() == want }) {
						return requestAddressResponse{}, fmt.Errorf("%s is in use by endpoint %.12s", want, id)
					}
				}
				return requestAddressResponse{Address: netip.PrefixFrom(want, sub.Bits()).String()}, nil
			}
			return requestAddressResponse{}, fmt.Errorf("%s is in use (%s)", want, key)
		}
		got, _, err := s.cfg.Addresses.Assign(ctx, AddrKeyPrefix+want.String(), []netip.Prefix{netip.PrefixFrom(want, sub.Bits())}, nil)
		if err != nil {
			return requestAddressResponse{}, err
		}
		return requestAddressResponse{Address: got[0].String()}, nil
	}
	got, _, err := s.cfg.Addresses.Assign(ctx, AddrKeyPrefix+token(), nil, []string{req.PoolID})
	if err != nil {
		return requestAddressResponse{}, err
	}
	return requestAddressResponse{Address: got[0].String()}, nil
}

// releaseAddress implements IpamDriver.ReleaseAddress: it frees an
// address this driver allocated; a container's own address stays until
// the container is removed, and a gateway until its subnet's last
// network is.
func (s *Service) releaseAddress(ctx context.Context, req releaseAddressRequest) (empty, error) {
	ad, err := netip.ParseAddr(req.Address)
	if err != nil {
		return empty{}, fmt.Errorf("address %q: %w", req.Address, err)
	}
	if key, ok := s.ownerOf(ad); ok && strings.HasPrefix(key, AddrKeyPrefix) {
		s.cfg.Addresses.Release(key)
		return empty{}, nil
	}
	s.netMu.Lock()
	defer s.netMu.Unlock()
	for sub, gw := range s.snapshot().Gateways {
		if gw.Addr.Addr() == ad {
			return empty{}, s.hideIfUnused(ctx, sub)
		}
	}
	return empty{}, nil
}

// ownerOf is the allocator key holding ad, or claiming it while the
// peer that owns its space has not granted it yet.
func (s *Service) ownerOf(ad netip.Addr) (string, bool) {
	return s.cfg.Addresses.Holder(ad)
}

// ensureGateway is this host's address in sub: the address exposed
// there already, or a new one exposed (masqueraded) by spec, or want if
// given. netMu is held.
func (s *Service) ensureGateway(ctx context.Context, spec string, sub netip.Prefix, want netip.Addr) (netip.Prefix, error) {
	for _, e := range s.cfg.Host.Status(false).Exposed {
		if sub.Contains(e.Addr.Addr()) {
			if want.IsValid() && want != e.Addr.Addr() {
				return netip.Prefix{}, fmt.Errorf("this host's address in %s is %s, not %s: give --gateway %s or none", sub, e.Addr.Addr(), want, e.Addr.Addr())
			}
			return netip.PrefixFrom(e.Addr.Addr(), sub.Bits()), nil
		}
	}
	gw := gateway{Spec: spec}
	req := api.ExposeRequest{Subnets: []string{spec}, Masquerade: true}
	if want.IsValid() {
		gw.Spec = ""
		req = api.ExposeRequest{CIDRs: []netip.Prefix{netip.PrefixFrom(want, sub.Bits())}, Masquerade: true}
	}
	out, err := s.cfg.Host.Expose(ctx, req)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("gateway of %s: %w", sub, err)
	}
	if len(out.Addrs) != 1 || !sub.Contains(out.Addrs[0].Addr()) {
		return netip.Prefix{}, fmt.Errorf("gateway of %s: exposed %v", sub, out.Addrs)
	}
	gw.Addr = netip.PrefixFrom(out.Addrs[0].Addr(), sub.Bits())
	if err := s.update(func(st *state) { st.Gateways[sub] = gw }); err != nil {
		_, _ = s.cfg.Host.Hide(ctx, api.ExposeRequest{CIDRs: out.Addrs})
		return netip.Prefix{}, err
	}
	s.log.Info("docker network gateway exposed", "subnet", sub, "addr", gw.Addr)
	return gw.Addr, nil
}

// hideIfUnused hides the gateway this driver exposed in sub once no
// network uses the subnet. netMu is held.
func (s *Service) hideIfUnused(ctx context.Context, sub netip.Prefix) error {
	st := s.snapshot()
	gw, ok := st.Gateways[sub]
	if !ok {
		return nil
	}
	for _, n := range st.Networks {
		if n.Subnet == sub {
			return nil
		}
	}
	if _, err := s.cfg.Host.Hide(ctx, api.ExposeRequest{CIDRs: []netip.Prefix{gw.Addr}}); err != nil && !isNotExposed(err) {
		return fmt.Errorf("hide gateway %s: %w", gw.Addr, err)
	}
	s.log.Info("docker network gateway hidden", "subnet", sub, "addr", gw.Addr)
	return s.update(func(st *state) { delete(st.Gateways, sub) })
}

// isNotExposed reports whether Hide failed because the address is not
// exposed (someone hid it already).
func isNotExposed(err error) bool {
	return errors.As(err, new(*api.BadRequestError)) && strings.Contains(err.Error(), "is not exposed")
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n |= 1<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// token is a random key suffix.
func token() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
