package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/docker"
)

// ContainerIfPrefix is the name libnetwork gives the container end of an
// endpoint's veth, with a number: ethwe0, ethwe1...
const ContainerIfPrefix = "ethwe"

// createNetwork implements NetworkDriver.CreateNetwork: it records the
// network's subnet and makes sure its gateway is exposed here (with
// docker's own IPAM the gateway is docker's choice, exposed as given).
func (s *Service) createNetwork(ctx context.Context, req createNetworkRequest) (empty, error) {
	if req.NetworkID == "" {
		return empty{}, errors.New("CreateNetwork: no NetworkID")
	}
	if len(req.IPv6Data) > 0 {
		return empty{}, errors.New("weave-switch has no IPv6 addresses: create the network without --ipv6")
	}
	if len(req.IPv4Data) != 1 {
		return empty{}, fmt.Errorf("a weave-switch network has one IPv4 subnet, not %d", len(req.IPv4Data))
	}
	d := req.IPv4Data[0]
	sub, err := netip.ParsePrefix(d.Pool)
	if err != nil || !sub.Addr().Is4() {
		return empty{}, fmt.Errorf("pool %q: not an IPv4 subnet", d.Pool)
	}
	sub = sub.Masked()
	var want netip.Addr
	if d.Gateway != "" {
		gw, err := netip.ParsePrefix(d.Gateway)
		if err != nil {
			return empty{}, fmt.Errorf("gateway %q: %w", d.Gateway, err)
		}
		want = gw.Addr()
	}
	spec := "net:" + sub.String()
	if _, def, err := s.ranges(); err == nil && def == sub {
		spec = "net:default"
	}
	s.netMu.Lock()
	defer s.netMu.Unlock()
	gw, err := s.ensureGateway(ctx, spec, sub, want)
	if err != nil {
		return empty{}, err
	}
	if err := s.cfg.Firewall.Allow(s.cfg.Bridge); err != nil {
		s.log.Warn("FORWARD rules for the bridge", "err", err)
	}
	if err := s.update(func(st *state) { st.Networks[req.NetworkID] = network{Subnet: sub, Gateway: gw} }); err != nil {
		return empty{}, err
	}
	s.log.Info("docker network created", "network", short(req.NetworkID), "subnet", sub, "gateway", gw)
	return empty{}, nil
}

// deleteNetwork implements NetworkDriver.DeleteNetwork: it forgets the
// network and hides the gateway this driver exposed for it if no other
// network uses the subnet.
func (s *Service) deleteNetwork(ctx context.Context, req networkRequest) (empty, error) {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	n, ok := s.snapshot().Networks[req.NetworkID]
	if !ok {
		return empty{}, nil
	}
	if err := s.update(func(st *state) { delete(st.Networks, req.NetworkID) }); err != nil {
		return empty{}, err
	}
	s.log.Info("docker network deleted", "network", short(req.NetworkID), "subnet", n.Subnet)
	return empty{}, s.hideIfUnused(ctx, n.Subnet)
}

// createEndpoint implements NetworkDriver.CreateEndpoint: the veth pair
// with its isolation rules (the address comes from IPAM, in the request;
// more may come in the docker.ExtraOpt driver option). It returns the
// MAC unless dockerd gave one.
func (s *Service) createEndpoint(ctx context.Context, req createEndpointRequest) (createEndpointResponse, error) {
	if req.Interface == nil || req.Interface.Address == "" {
		return createEndpointResponse{}, errors.New("CreateEndpoint: no IPv4 address (a weave-switch network needs one)")
	}
	addr, err := netip.ParsePrefix(req.Interface.Address)
	if err != nil || !addr.Addr().Is4() {
		return createEndpointResponse{}, fmt.Errorf("CreateEndpoint: address %q is not an IPv4 CIDR", req.Interface.Address)
	}
	extra, err := parseExtra(req.Options[docker.ExtraOpt])
	if err != nil {
		return createEndpointResponse{}, err
	}
	sub := addr.Masked()
	if n, ok := s.snapshot().Networks[req.NetworkID]; ok {
		sub = n.Subnet
	}
	claimed, err := s.claimExtra(ctx, extra)
	if err != nil {
		return createEndpointResponse{}, err
	}
	release := func() {
		for _, k := range claimed {
			s.cfg.Addresses.Release(k)
		}
	}
	addrs, subnets := []netip.Prefix{addr}, []netip.Prefix{sub}
	for _, p := range extra {
		if !slices.Contains(addrs, p) {
			addrs = append(addrs, p)
		}
		if !slices.Contains(subnets, p.Masked()) {
			subnets = append(subnets, p.Masked())
		}
	}
	ep, err := s.cfg.Endpoints.CreateEndpoint(ctx, attach.EndpointRequest{
		ID: req.EndpointID, MAC: req.Interface.MacAddress, Addrs: addrs, Subnets: subnets,
	})
	if err != nil {
		release()
		return createEndpointResponse{}, err
	}
	if err := s.update(func(st *state) {
		st.Endpoints[req.EndpointID] = endpoint{Network: req.NetworkID, Extra: extra, Claimed: claimed, Endpoint: ep}
	}); err != nil {
		_ = s.cfg.Endpoints.DeleteEndpoint(ctx, ep)
		release()
		return createEndpointResponse{}, err
	}
	if req.Interface.MacAddress != "" {
		return createEndpointResponse{}, nil
	}
	return createEndpointResponse{Interface: &endpointInterface{MacAddress: ep.MAC}}, nil
}

// parseExtra reads the docker.ExtraOpt option: IPv4 host addresses with
// their prefix lengths, comma-separated.
func parseExtra(v any) ([]netip.Prefix, error) {
	if v == nil {
		return nil, nil
	}
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("driver option %s: want a string, got %T", docker.ExtraOpt, v)
	}
	var out []netip.Prefix
	for _, f := range strings.Split(str, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 || p.Addr() == p.Masked().Addr() || p.Addr() == lastAddr(p) {
			return nil, fmt.Errorf("driver option %s: %q is not an IPv4 host address with its prefix length (10.40.3.7/24)", docker.ExtraOpt, f)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// claimExtra makes sure each extra address is the endpoint's: held by a
// container's own key (the API proxy reserved it), or claimed here under
// AddrKeyPrefix. It returns the keys it claimed.
func (s *Service) claimExtra(ctx context.Context, extra []netip.Prefix) (claimed []string, err error) {
	defer func() {
		if err != nil {
			for _, k := range claimed {
				s.cfg.Addresses.Release(k)
			}
		}
	}()
	for _, p := range extra {
		if key, ok := s.ownerOf(p.Addr()); ok {
			if _, mine := docker.ContainerID(key); !mine {
				return claimed, fmt.Errorf("driver option %s: %s is in use (%s)", docker.ExtraOpt, p.Addr(), key)
			}
			continue
		}
		key := AddrKeyPrefix + p.Addr().String()
		if _, _, err := s.cfg.Addresses.Assign(ctx, key, []netip.Prefix{p}, nil); err != nil {
			return claimed, fmt.Errorf("driver option %s: %w", docker.ExtraOpt, err)
		}
		claimed = append(claimed, key)
	}
	return claimed, nil
}

// endpointOperInfo implements NetworkDriver.EndpointOperInfo.
func (s *Service) endpointOperInfo(_ context.Context, req endpointRequest) (endpointInfoResponse, error) {
	v := map[string]any{}
	if ep, ok := s.snapshot().Endpoints[req.EndpointID]; ok {
		v["veth"], v["mac"] = ep.HostVeth, ep.MAC
	}
	return endpointInfoResponse{Value: v}, nil
}

// deleteEndpoint implements NetworkDriver.DeleteEndpoint: it removes the
// veth pair and its rules.
func (s *Service) deleteEndpoint(ctx context.Context, req endpointRequest) (empty, error) {
	ep, ok := s.snapshot().Endpoints[req.EndpointID]
	if !ok {
		ep.Endpoint = attach.Endpoint{ID: req.EndpointID}
	}
	if err := s.cfg.Endpoints.DeleteEndpoint(ctx, ep.Endpoint); err != nil {
		return empty{}, err
	}
	for _, k := range ep.Claimed {
		s.cfg.Addresses.Release(k)
	}
	return empty{}, s.update(func(st *state) { delete(st.Endpoints, req.EndpointID) })
}

// join implements NetworkDriver.Join: libnetwork moves the container end
// into the container as ethwe<N>, and the default route goes through the
// network's gateway on this host.
func (s *Service) join(_ context.Context, req joinRequest) (joinResponse, error) {
	st := s.snapshot()
	_, cv, err := attach.EndpointNames(req.EndpointID)
	if err != nil {
		return joinResponse{}, err
	}
	if ep, ok := st.Endpoints[req.EndpointID]; ok {
		cv = ep.ContainerVeth
		if len(ep.Extra) > 0 {
			s.addExtra(ep, req.SandboxKey)
		}
	}
	resp := joinResponse{InterfaceName: interfaceName{SrcName: cv, DstPrefix: ContainerIfPrefix}}
	if n, ok := st.Networks[req.NetworkID]; ok && n.Gateway.IsValid() {
		resp.Gateway = n.Gateway.Addr().String()
	} else {
		resp.DisableGatewayService = true
	}
	return resp, nil
}

// addExtra puts an endpoint's extra addresses on its container end once
// dockerd has moved it into the container (after Join answers), in the
// background.
func (s *Service) addExtra(ep endpoint, sandbox string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.goLocked(func() {
		if err := s.cfg.Endpoints.AddEndpointAddrs(ep.Endpoint, sandbox, ep.Extra, s.stop); err != nil {
			s.log.Warn("extra addresses not added to the container", "endpoint", short(ep.ID), "addrs", ep.Extra, "err", err)
		}
	})
}

// restore puts back what an earlier run made: the gateways this driver
// exposed (by the same request, so the allocator finds the same
// address) and the endpoints whose veth still exists.
func (s *Service) restore(ctx context.Context) {
	st := s.snapshot()
	for sub, gw := range st.Gateways {
		req := api.ExposeRequest{Subnets: []string{gw.Spec}, Masquerade: true}
		if gw.Spec == "" {
			req = api.ExposeRequest{CIDRs: []netip.Prefix{gw.Addr}, Masquerade: true}
		}
		if out, err := s.cfg.Host.Expose(ctx, req); err != nil {
			s.log.Warn("docker network gateway not restored", "subnet", sub, "err", err)
		} else if len(out.Addrs) == 1 && out.Addrs[0].Addr() != gw.Addr.Addr() {
			s.log.Warn("docker network gateway restored with another address", "subnet", sub, "was", gw.Addr, "now", out.Addrs[0])
		}
	}
	var gone []string
	for id, ep := range st.Endpoints {
		switch err := s.cfg.Endpoints.RestoreEndpoint(ctx, ep.Endpoint); {
		case errors.Is(err, attach.ErrEndpointGone):
			gone = append(gone, id)
		case err != nil:
			s.log.Warn("docker endpoint not restored", "endpoint", short(id), "err", err)
		default:
			s.reclaim(ctx, id, ep.Addrs)
		}
	}
	if len(gone) > 0 {
		if err := s.update(func(st *state) {
			for _, id := range gone {
				delete(st.Endpoints, id)
			}
		}); err != nil {
			s.log.Warn("docker plugin state", "err", err)
		}
	}
}

// reclaim claims again, each under its AddrKeyPrefix key, the addresses
// of a restored endpoint that no key holds: the allocator lost them (its
// database was replaced), and the container still has them. They are
// released as any other when dockerd releases the address or deletes the
// endpoint. An address the allocator refuses is logged.
func (s *Service) reclaim(ctx context.Context, id string, addrs []netip.Prefix) {
	for _, p := range addrs {
		if _, held := s.cfg.Addresses.Holder(p.Addr()); held {
			continue
		}
		if _, _, err := s.cfg.Addresses.Assign(ctx, AddrKeyPrefix+p.Addr().String(), []netip.Prefix{p}, nil); err != nil {
			s.log.Error("a restored docker endpoint's address could not be claimed again", "endpoint", short(id), "addr", p, "err", err)
		} else {
			s.log.Warn("claimed a restored docker endpoint's address again: the allocator had lost it", "endpoint", short(id), "addr", p)
		}
	}
}

// short is an ID cut for logs.
func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
