package attach

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/isolation"
)

// Endpoint veth names: a fixed prefix and the first endpointIDLen
// characters of the endpoint's ID (a container runtime's hex ID), so
// that the names follow from the ID alone and fit in 15 characters. The
// prefixes are not those of attached namespaces (vws...).
const (
	endpointHostPrefix      = host.EndpointVethPrefix
	endpointContainerPrefix = host.EndpointPeerPrefix
	endpointIDLen           = 10
)

// EndpointRequest asks for a container port whose container end a
// container runtime moves into the container itself (the Docker network
// driver's endpoints): the addresses are decided elsewhere, and the
// runtime configures them inside the container.
type EndpointRequest struct {
	// ID names the endpoint: at least 10 characters of letters and
	// digits, unique among the endpoints on this host.
	ID string
	// MAC is the container end's MAC; if empty, a random locally
	// administered one.
	MAC string
	// Addrs are the container's addresses, with their subnet's length.
	Addrs []netip.Prefix
	// Subnets are the application subnets the container is in; if
	// empty, the networks of Addrs.
	Subnets []netip.Prefix
}

// Endpoint is a container port made by CreateEndpoint: what DeleteEndpoint
// and RestoreEndpoint need to undo or redo its rules.
type Endpoint struct {
	ID string `json:"id"`
	// HostVeth is the bridge end; ContainerVeth the end left in this
	// namespace for the runtime to move.
	HostVeth      string         `json:"host_veth"`
	ContainerVeth string         `json:"container_veth"`
	MAC           string         `json:"mac"`
	Addrs         []netip.Prefix `json:"addrs"`
	Subnets       []netip.Prefix `json:"subnets"`
}

// EndpointNames are the host and container veth names of the endpoint
// with the given ID.
func EndpointNames(id string) (hostVeth, containerVeth string, err error) {
	if len(id) < endpointIDLen || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return "", "", fmt.Errorf("endpoint ID %q: want at least %d letters and digits", id, endpointIDLen)
	}
	suffix := strings.ToLower(id[:endpointIDLen])
	return endpointHostPrefix + suffix, endpointContainerPrefix + suffix, nil
}

// port is the isolation port of ep.
func (ep Endpoint) port() (isolation.Port, error) {
	mac, err := frame.ParseMAC(ep.MAC)
	if err != nil {
		return isolation.Port{}, err
	}
	pt := isolation.Port{Ifname: ep.HostVeth, MAC: mac, Subnets: slices.Clone(ep.Subnets)}
	for _, p := range ep.Addrs {
		if !slices.Contains(pt.Addrs, p.Addr()) {
			pt.Addrs = append(pt.Addrs, p.Addr())
		}
		if len(ep.Subnets) == 0 && !slices.Contains(pt.Subnets, appSubnet(p)) {
			pt.Subnets = append(pt.Subnets, appSubnet(p))
		}
	}
	return pt, nil
}

// CreateEndpoint makes a container port the way Attach does, for a
// runtime that moves the container end itself: the port's rules first,
// then the veth pair (host end on the bridge, container end in this
// namespace, down, with the router's MTU), then the host end up. Each
// step is undone if a later one fails. The MAC is claimed in the switch.
// It is safe for concurrent use with different IDs.
func (s *Service) CreateEndpoint(ctx context.Context, req EndpointRequest) (Endpoint, error) {
	hv, cv, err := EndpointNames(req.ID)
	if err != nil {
		return Endpoint{}, err
	}
	var mac frame.MAC
	if req.MAC != "" {
		if mac, err = frame.ParseMAC(req.MAC); err != nil {
			return Endpoint{}, fmt.Errorf("endpoint %s: %w", req.ID, err)
		}
		if mac.IsMulticast() || mac.IsZero() {
			return Endpoint{}, fmt.Errorf("endpoint %s: %s is not a unicast MAC", req.ID, mac)
		}
	} else {
		_, _ = rand.Read(mac[:])
		mac[0] = mac[0]&0xfe | 0x02 // unicast, locally administered
	}
	ep := Endpoint{ID: req.ID, HostVeth: hv, ContainerVeth: cv, MAC: mac.String(), Addrs: req.Addrs, Subnets: req.Subnets}
	pt, err := ep.port()
	if err != nil {
		return Endpoint{}, err
	}
	undo, err := s.cfg.Ports.SetPort(ctx, pt)
	if err != nil {
		return Endpoint{}, err
	}
	if err := host.CreateVethPair(s.cfg.Bridge, hv, cv, s.cfg.MTU, net.HardwareAddr(mac[:])); err != nil {
		undo()
		return Endpoint{}, err
	}
	if err := host.SetMaster(hv, s.cfg.Bridge, s.cfg.MTU); err != nil {
		_ = host.DeleteLink(hv)
		undo()
		return Endpoint{}, err
	}
	if s.cfg.Switch.ClaimMAC(mac) {
		s.log.Info("MAC moved here from another peer", "mac", ep.MAC)
	}
	s.log.Info("endpoint created", "id", req.ID, "veth", hv, "mac", ep.MAC, "addrs", ep.Addrs)
	return ep, nil
}

// ErrEndpointGone is returned by RestoreEndpoint for an endpoint whose
// veth no longer exists.
var ErrEndpointGone = errors.New("endpoint veth is gone")

// RestoreEndpoint puts back the rules of an endpoint made by an earlier
// run of the router, and plugs its host end into the bridge again (the
// bridge may be new). An endpoint whose veth is gone gives
// ErrEndpointGone.
func (s *Service) RestoreEndpoint(ctx context.Context, ep Endpoint) error {
	if !host.LinkExists(ep.HostVeth) {
		return ErrEndpointGone
	}
	pt, err := ep.port()
	if err != nil {
		return err
	}
	undo, err := s.cfg.Ports.SetPort(ctx, pt)
	if err != nil {
		return err
	}
	if err := host.SetMaster(ep.HostVeth, s.cfg.Bridge, s.cfg.MTU); err != nil {
		undo()
		return err
	}
	s.cfg.Switch.ClaimMAC(pt.MAC)
	return nil
}

// DeleteEndpoint removes an endpoint's veth pair (wherever its container
// end is), its rules and its MAC from the switch. Deleting an endpoint
// that is gone is not an error.
func (s *Service) DeleteEndpoint(ctx context.Context, ep Endpoint) error {
	hv, _, err := EndpointNames(ep.ID)
	if err != nil {
		return err
	}
	if err := host.DeleteLink(hv); err != nil {
		return fmt.Errorf("delete %s: %w", hv, err)
	}
	if err := s.cfg.Ports.RemovePort(ctx, hv); err != nil {
		return fmt.Errorf("remove isolation rules of %s: %w", hv, err)
	}
	if mac, err := frame.ParseMAC(ep.MAC); err == nil {
		s.cfg.Switch.ForgetMAC(mac)
	}
	s.log.Info("endpoint deleted", "id", ep.ID, "veth", hv)
	return nil
}

// endpointAddrWait bounds how long AddEndpointAddrs waits for the
// runtime to configure the container end.
const endpointAddrWait = 15 * time.Second

// AddEndpointAddrs puts addrs on an endpoint's container end, in the
// network namespace at nsPath, once the runtime has moved it there and
// configured its first address (ep.Addrs[0]). It waits at most 15 s, or
// until stop is closed.
func (s *Service) AddEndpointAddrs(ep Endpoint, nsPath string, addrs []netip.Prefix, stop <-chan struct{}) error {
	if len(ep.Addrs) == 0 {
		return fmt.Errorf("endpoint %s has no address", ep.ID)
	}
	mac, err := net.ParseMAC(ep.MAC)
	if err != nil {
		return err
	}
	if err := host.AddAddrsWhenReady(nsPath, mac, ep.Addrs[0], addrs, endpointAddrWait, stop); err != nil {
		return err
	}
	s.log.Info("endpoint addresses added", "id", ep.ID, "addrs", addrs)
	return nil
}
