package proxy

import (
	"errors"
	"log/slog"
	"net/netip"

	"github.com/weave-switch/weave-switch/docker"
)

// DefaultSocket is where the proxy listens unless told otherwise.
const DefaultSocket = "/run/weave-switch/docker.sock"

// DefaultMaxBody bounds the body of a container create the proxy reads.
const DefaultMaxBody = 4 << 20

// ExtraOpt is the endpoint DriverOpts key that carries a container's
// addresses after the first, comma-separated with their prefix lengths
// (10.40.3.7/24,10.32.0.9/13).
const ExtraOpt = docker.ExtraOpt

// Config configures a Service.
type Config struct {
	// Socket is the unix socket the proxy serves. If empty, defaults to
	// DefaultSocket.
	Socket string
	// DockerHost is the Docker daemon's address, unix:///path or
	// tcp://host:port. If empty, defaults to docker.Host("").
	DockerHost string
	// Network is the Docker network containers are connected to when
	// their first address is in Subnet. If empty, defaults to
	// docker.DefaultNetwork.
	Network string
	// Subnet is Network's subnet. A container whose first address is
	// outside it (app:NAME, net:CIDR, an explicit address elsewhere) is
	// connected to the network of its own subnet,
	// docker.SubnetNetwork, made on first use. If invalid, every
	// container goes to Network.
	Subnet netip.Prefix
	// MaxBody bounds a container create's body; a larger one is refused
	// with 413. If zero, defaults to DefaultMaxBody.
	MaxBody int64
	// Range is the allocation range, in which app:NAME subnets lie.
	Range netip.Prefix
	// DNS, if set, is the router's DNS: containers the proxy puts on the
	// weave network get it as their nameserver and its domain as their
	// search domain, unless their create sets either.
	DNS Nameserver
	// Addresses reserves and releases containers' addresses. Required.
	Addresses Addresses
	// Logger gets the proxy's logs. If nil, they are discarded.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Socket == "" {
		c.Socket = DefaultSocket
	}
	if c.DockerHost == "" {
		c.DockerHost = docker.Host("")
	}
	if c.Network == "" {
		c.Network = docker.DefaultNetwork
	}
	if c.MaxBody == 0 {
		c.MaxBody = DefaultMaxBody
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports what is wrong with c (after its defaults).
func (c Config) Validate() error {
	c = c.withDefaults()
	if c.Addresses == nil {
		return errors.New("docker proxy: no address management (Config.Addresses)")
	}
	if c.MaxBody < 0 {
		return errors.New("docker proxy: negative MaxBody")
	}
	if _, _, err := upstream(c.DockerHost); err != nil {
		return err
	}
	return nil
}
