// Package docker holds what the router's Docker services share: the
// client for the Docker daemon, the driver and network names, and the
// address-management key of a container.
//
// The services themselves live in subpackages: plugin (the libnetwork
// network and IPAM driver), proxy (the Docker API proxy) and watch (the
// events watcher that makes addresses follow a container's life).
package docker

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

const (
	// DriverName is the network and IPAM driver name the router's plugin
	// socket registers: `docker network create -d weave-switch`.
	DriverName = "weave-switch"
	// DefaultNetwork is the network the router creates when it finds a
	// Docker daemon.
	DefaultNetwork = "weave"
	// KeyPrefix starts the address-management key of a container's own
	// addresses; the rest is its full ID.
	KeyPrefix = "docker:"
	// DefaultHost is where the Docker daemon listens unless DOCKER_HOST
	// or --docker-host say otherwise.
	DefaultHost = "unix:///var/run/docker.sock"
)

// ContainerKey is the address-management key of a container's own
// addresses: they stay the container's across stop, start and restart,
// and are released when it is removed.
func ContainerKey(id string) string { return KeyPrefix + id }

// ContainerID is the container ID in key, if key is a ContainerKey.
func ContainerID(key string) (string, bool) {
	id, ok := strings.CutPrefix(key, KeyPrefix)
	return id, ok && id != ""
}

// Host is the Docker daemon's address: flag if set, else DOCKER_HOST,
// else DefaultHost.
func Host(flag string) string {
	if flag != "" {
		return flag
	}
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	return DefaultHost
}

// NewClient is a client for the Docker daemon at host (see Host) that
// negotiates the API version with it. It does no I/O.
func NewClient(host string) (*client.Client, error) {
	return client.New(client.WithHost(host))
}

// Networks is what EnsureNetwork needs of the Docker client.
type Networks interface {
	NetworkInspect(ctx context.Context, id string, opts client.NetworkInspectOptions) (client.NetworkInspectResult, error)
	NetworkCreate(ctx context.Context, name string, opts client.NetworkCreateOptions) (client.NetworkCreateResult, error)
}

// EnsureNetwork makes the Docker network name over subnet on the
// router's driver and IPAM driver unless a network of that name exists.
// The subnet is given to Docker, not left to the IPAM driver, because
// Docker accepts a container's preferred address (--ip, and the API
// proxy's reservations) only on networks with a configured subnet.
// created says it made one; a network of that name on another driver is
// an error.
func EnsureNetwork(ctx context.Context, c Networks, name string, subnet netip.Prefix) (created bool, err error) {
	got, err := c.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	switch {
	case err == nil:
		if d := got.Network.Driver; d != DriverName {
			return false, fmt.Errorf("docker network %q exists with driver %q, not %q", name, d, DriverName)
		}
		return false, nil
	case !cerrdefs.IsNotFound(err):
		return false, fmt.Errorf("docker network %q: %w", name, err)
	}
	_, err = c.NetworkCreate(ctx, name, client.NetworkCreateOptions{
		Driver: DriverName,
		IPAM:   &network.IPAM{Driver: DriverName, Config: []network.IPAMConfig{{Subnet: subnet}}},
		Labels: map[string]string{"org.weave-switch.subnet": subnet.String()},
	})
	if err != nil {
		if cerrdefs.IsConflict(err) { // made by a concurrent call
			return false, nil
		}
		return false, fmt.Errorf("docker network create %s: %w", name, err)
	}
	return true, nil
}

// SubnetNetwork is the name of the Docker network the router makes for
// containers whose address is in subnet, outside the default network's:
// weave-10.40.1.0-24.
func SubnetNetwork(subnet netip.Prefix) string {
	return DefaultNetwork + "-" + strings.ReplaceAll(subnet.Masked().String(), "/", "-")
}
