package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"
	"strings"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/weave-switch/weave-switch/docker"
)

// Addresses is what the proxy needs of address management: alloc/ipam's
// Service has this method set. Assign reserves cidrs as given and one
// address in each subnet spec under key (with neither, one in the
// default subnet) and returns them, cidrs first; undo gives back what
// this call took. Release frees everything under key.
type Addresses interface {
	Assign(ctx context.Context, key string, cidrs []netip.Prefix, specs []string) (out []netip.Prefix, undo func(), err error)
	Release(key string) []netip.Addr
}

// daemon is what the proxy asks of the Docker daemon on its own, beyond
// the requests it forwards.
type daemon interface {
	// networkDriver is the driver of the network named or with ID name.
	networkDriver(ctx context.Context, name string) (string, error)
	// connect connects container id, created and not started, to net
	// with addr as its preferred IPv4 address and extra in the
	// endpoint's DriverOpts under ExtraOpt.
	connect(ctx context.Context, net, id string, addr netip.Addr, extra []netip.Prefix) error
	// ensureNetwork makes the network name over subnet on the router's
	// driver unless it exists.
	ensureNetwork(ctx context.Context, name string, subnet netip.Prefix) error
	// remove removes container id and its anonymous volumes.
	remove(ctx context.Context, id string) error
	close() error
}

// mobyDaemon is daemon over the Docker client.
type mobyDaemon struct{ c *client.Client }

func (d mobyDaemon) networkDriver(ctx context.Context, name string) (string, error) {
	res, err := d.c.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return "", err
	}
	return res.Network.Driver, nil
}

func (d mobyDaemon) connect(ctx context.Context, net, id string, addr netip.Addr, extra []netip.Prefix) error {
	ep := &network.EndpointSettings{IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: addr}}
	if len(extra) > 0 {
		ep.DriverOpts = map[string]string{ExtraOpt: joinPrefixes(extra)}
	}
	_, err := d.c.NetworkConnect(ctx, net, client.NetworkConnectOptions{Container: id, EndpointConfig: ep})
	return err
}

func (d mobyDaemon) ensureNetwork(ctx context.Context, name string, subnet netip.Prefix) error {
	_, err := docker.EnsureNetwork(ctx, d.c, name, subnet)
	return err
}

func (d mobyDaemon) remove(ctx context.Context, id string) error {
	_, err := d.c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	return err
}

func (d mobyDaemon) close() error { return d.c.Close() }

// joinPrefixes is the ExtraOpt value for ps.
func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// upstream is the network and address to dial for the Docker daemon at
// host: unix:///path or tcp://host:port.
func upstream(host string) (netw, addr string, err error) {
	u, err := url.Parse(host)
	if err != nil {
		return "", "", fmt.Errorf("docker proxy: docker host %q: %w", host, err)
	}
	switch u.Scheme {
	case "unix":
		if u.Path == "" {
			return "", "", fmt.Errorf("docker proxy: docker host %q: no socket path", host)
		}
		return "unix", u.Path, nil
	case "tcp":
		if u.Host == "" {
			return "", "", fmt.Errorf("docker proxy: docker host %q: no host:port", host)
		}
		return "tcp", u.Host, nil
	}
	return "", "", fmt.Errorf("docker proxy: docker host %q: only unix:// and tcp:// are supported", host)
}
