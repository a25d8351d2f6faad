package daemon

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/dns"
	"github.com/weave-switch/weave-switch/docker"
	"github.com/weave-switch/weave-switch/docker/plugin"
	"github.com/weave-switch/weave-switch/docker/proxy"
	"github.com/weave-switch/weave-switch/docker/watch"
)

// dockerClient makes the Docker daemon's client (no I/O: the daemon may
// come up after the router), unless --no-docker.
func (d *Daemon) dockerClient() (func(), error) {
	if d.cfg.NoDocker {
		return nil, nil
	}
	c, err := docker.NewClient(docker.Host(d.cfg.DockerHost))
	if err != nil {
		return nil, fmt.Errorf("--docker-host: %w", err)
	}
	d.docker = c
	return func() { c.Close() }, nil
}

// resolver finds containers by name or ID for attach, if Docker is on.
func (d *Daemon) resolver() attach.Resolver {
	if d.docker == nil {
		return nil
	}
	return watch.NewNames(d.docker)
}

// startDockerPlugin serves the Docker network and IPAM plugin. It runs
// in dockerd's network namespace: the veths it makes are moved into the
// containers by dockerd.
func (d *Daemon) startDockerPlugin() (func(), error) {
	if d.docker == nil {
		return nil, nil
	}
	p := plugin.New(plugin.Config{Sockets: d.cfg.PluginSockets, Bridge: d.cfg.Bridge,
		StateFile: filepath.Join(d.cfg.DataDir, "docker-plugin.json"),
		Addresses: d.ipam, Host: d.iso, Endpoints: d.att, Logger: d.log.With("component", "docker-plugin")})
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("docker plugin: %w", err)
	}
	d.plugin = p
	return func() { p.Close() }, nil
}

// startDockerWatch follows the Docker daemon's container events so that
// addresses follow the containers' lives, and makes the default network
// whenever it reaches the daemon.
func (d *Daemon) startDockerWatch() (func(), error) {
	if d.docker == nil {
		return nil, nil
	}
	var names watch.DNS
	if d.dns != nil {
		names = d.dns
	}
	d.watch = watch.New(watch.Config{
		Docker: d.docker, Addresses: d.ipam, Attachments: d.att, Names: names, Logger: d.log.With("component", "docker"),
		OnConnect: func(ctx context.Context) error {
			created, err := docker.EnsureNetwork(ctx, d.docker, docker.DefaultNetwork, d.ipam.DefaultSubnet())
			if created {
				d.log.Info("made the docker network", "network", docker.DefaultNetwork, "driver", docker.DriverName)
			}
			return err
		},
	})
	if err := d.watch.Start(); err != nil {
		return nil, err
	}
	return func() { d.watch.Close() }, nil
}

// startDockerProxy serves the Docker API proxy: everything goes to
// dockerd, and containers created through it join the weave network
// before their process starts.
func (d *Daemon) startDockerProxy() (func(), error) {
	if d.docker == nil {
		return nil, nil
	}
	universe, _ := ipam.ParseRange(d.cfg.IPAllocRange)
	var ns proxy.Nameserver
	if d.dns != nil {
		ns = d.dns
	}
	p, err := proxy.New(proxy.Config{Socket: d.cfg.ProxySocket, DockerHost: docker.Host(d.cfg.DockerHost),
		Network: docker.DefaultNetwork, Subnet: d.ipam.DefaultSubnet(), Range: universe, DNS: ns,
		Addresses: d.ipam, Logger: d.log.With("component", "docker-proxy")})
	if err != nil {
		return nil, fmt.Errorf("docker proxy: %w", err)
	}
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("docker proxy: %w", err)
	}
	d.proxy = p
	return func() { p.Close() }, nil
}

// dockerCollectors are the metrics of the services that may be off:
// Docker's and DNS.
func (d *Daemon) dockerCollectors() []prometheus.Collector {
	var out []prometheus.Collector
	if d.watch != nil {
		out = append(out, d.watch.Collector())
	}
	if d.proxy != nil {
		out = append(out, d.proxy.Collector())
	}
	if d.plugin != nil {
		out = append(out, d.plugin.Collector())
	}
	if d.dns != nil {
		out = append(out, d.dns.Collector())
	}
	return out
}

// dockerStatus is the Docker part of the status.
func (d *Daemon) dockerStatus() *api.DockerStatus {
	if d.docker == nil {
		return nil
	}
	st := &api.DockerStatus{Host: docker.Host(d.cfg.DockerHost), ProxySocket: d.cfg.ProxySocket,
		PluginSockets: d.cfg.PluginSockets, Network: docker.DefaultNetwork}
	if d.watch != nil {
		st.Connected, _ = d.watch.Connected()
	}
	return st
}

var _ watch.Docker = (*client.Client)(nil)

var _ watch.DNS = (*dns.Service)(nil)
