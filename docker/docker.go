// Package docker holds what the router's Docker services share: the
// client for the Docker daemon, the driver and network names, and the
// address-management key of a container.
//
// The services themselves live in subpackages: plugin (the libnetwork
// network and IPAM driver), proxy (the Docker API proxy) and watch (the
// events watcher that makes addresses follow a container's life).
package docker

import (
	"os"
	"strings"

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
