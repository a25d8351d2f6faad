// Package integration is the router's Docker integration as one service:
// the Docker daemon's client, the network and IPAM plugin
// (docker/plugin), the events watcher (docker/watch) and the API proxy
// (docker/proxy), started and stopped together, in their order.
//
// Its life has two stages because the attach service sits between
// them: New makes the client (no I/O: dockerd may come up after the
// router) so that Names can resolve containers for attach; Start, given
// the services the three parts consume (attach among them), serves the
// plugin, follows the events and serves the proxy; Stop undoes Start and
// Close undoes both. The watcher makes
// the default network (docker.DefaultNetwork over the allocator's
// default subnet) whenever it reaches the daemon.
package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker"
	"github.com/weave-switch/weave-switch/docker/plugin"
	"github.com/weave-switch/weave-switch/docker/proxy"
	"github.com/weave-switch/weave-switch/docker/watch"
)

// Addresses is the allocator as the three parts use it, and its default
// subnet, which the default network covers.
type Addresses interface {
	plugin.Addresses
	watch.Addresses
	proxy.Addresses
	DefaultSubnet() netip.Prefix
}

// Endpoints is the attach service: the plugin makes containers' ports
// with it, the watcher follows their lives into it.
type Endpoints interface {
	plugin.Endpoints
	watch.Attachments
}

// DNS is the router's name registry and nameserver: the watcher
// registers containers' Docker names, the proxy gives containers the
// nameserver.
type DNS interface {
	watch.DNS
	proxy.Nameserver
}

// Config configures the integration.
type Config struct {
	// DockerHost is the daemon's address (DOCKER_HOST syntax); empty
	// means docker.Host("").
	DockerHost string
	// PluginSockets are where the plugin is served; ProxySocket where
	// the proxy is.
	PluginSockets []string
	ProxySocket   string
	// Bridge is the weave bridge; PluginState the plugin's state file
	// (empty: nothing kept across restarts).
	Bridge      string
	PluginState string
	// Range is the allocation range, in which the proxy finds app:NAME
	// subnets.
	Range  netip.Prefix
	Logger *slog.Logger
}

// Deps are the services Start wires the parts to. DNS may be nil (no
// names, no nameserver for containers); the others are required.
type Deps struct {
	Addresses Addresses
	Host      plugin.Host
	Endpoints Endpoints
	DNS       DNS
}

// Service is the Docker integration.
type Service struct {
	cfg    Config
	log    *slog.Logger
	client *client.Client

	plugin *plugin.Service
	watch  *watch.Service
	proxy  *proxy.Service
}

// New makes the Docker client; it does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c, err := docker.NewClient(docker.Host(cfg.DockerHost))
	if err != nil {
		return nil, fmt.Errorf("--docker-host: %w", err)
	}
	return &Service{cfg: cfg, log: cfg.Logger, client: c}, nil
}

// Names resolves containers by name or ID (for attach).
func (s *Service) Names() *watch.Names { return watch.NewNames(s.client) }

// Start serves the plugin, follows the daemon's events and serves the
// proxy, in that order; on failure it undoes what it started.
func (s *Service) Start(deps Deps) (err error) {
	if deps.Addresses == nil || deps.Host == nil || deps.Endpoints == nil {
		return errors.New("docker integration: Addresses, Host and Endpoints are required")
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	s.plugin = plugin.New(plugin.Config{Sockets: s.cfg.PluginSockets, Bridge: s.cfg.Bridge, StateFile: s.cfg.PluginState,
		Addresses: deps.Addresses, Host: deps.Host, Endpoints: deps.Endpoints, Logger: s.log.With("component", "docker-plugin")})
	if err := s.plugin.Start(); err != nil {
		s.plugin = nil
		return fmt.Errorf("docker plugin: %w", err)
	}

	var names watch.DNS
	var ns proxy.Nameserver
	if deps.DNS != nil {
		names, ns = deps.DNS, deps.DNS
	}
	s.watch = watch.New(watch.Config{
		Docker: s.client, Addresses: deps.Addresses, Attachments: deps.Endpoints, Names: names, Logger: s.log,
		OnConnect: func(ctx context.Context) error {
			created, err := docker.EnsureNetwork(ctx, s.client, docker.DefaultNetwork, deps.Addresses.DefaultSubnet())
			if created {
				s.log.Info("made the docker network", "network", docker.DefaultNetwork, "driver", docker.DriverName)
			}
			return err
		},
	})
	if err := s.watch.Start(); err != nil {
		s.watch = nil
		return fmt.Errorf("docker events: %w", err)
	}

	p, err := proxy.New(proxy.Config{Socket: s.cfg.ProxySocket, DockerHost: docker.Host(s.cfg.DockerHost),
		Network: docker.DefaultNetwork, Subnet: deps.Addresses.DefaultSubnet(), Range: s.cfg.Range, DNS: ns,
		Addresses: deps.Addresses, Logger: s.log.With("component", "docker-proxy")})
	if err != nil {
		return fmt.Errorf("docker proxy: %w", err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("docker proxy: %w", err)
	}
	s.proxy = p
	return nil
}

// Stop undoes Start: it closes the proxy, the watcher and the plugin, in
// that order, and keeps the client (Names goes on resolving). It is
// idempotent.
func (s *Service) Stop() {
	if s.proxy != nil {
		s.proxy.Close()
		s.proxy = nil
	}
	if s.watch != nil {
		s.watch.Close()
		s.watch = nil
	}
	if s.plugin != nil {
		s.plugin.Close()
		s.plugin = nil
	}
}

// Close stops the parts and closes the client. It is idempotent.
func (s *Service) Close() error {
	s.Stop()
	if s.client != nil {
		s.client.Close()
		s.client = nil
	}
	return nil
}

// Collectors are the parts' metrics (those started).
func (s *Service) Collectors() []prometheus.Collector {
	var out []prometheus.Collector
	if s.watch != nil {
		out = append(out, s.watch.Collector())
	}
	if s.proxy != nil {
		out = append(out, s.proxy.Collector())
	}
	if s.plugin != nil {
		out = append(out, s.plugin.Collector())
	}
	return out
}

// Status is the Docker part of the router's status.
func (s *Service) Status() *api.DockerStatus {
	st := &api.DockerStatus{Host: docker.Host(s.cfg.DockerHost), ProxySocket: s.cfg.ProxySocket,
		PluginSockets: s.cfg.PluginSockets, Network: docker.DefaultNetwork}
	if s.watch != nil {
		st.Connected, _ = s.watch.Connected()
	}
	return st
}

var _ watch.Docker = (*client.Client)(nil)
