package daemon

import (
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/dns"
	"github.com/weave-switch/weave-switch/docker/integration"
)

// dockerClient makes the Docker integration (no I/O: the daemon may
// come up after the router), unless --no-docker; attach resolves
// containers by name through it.
func (d *Daemon) dockerClient() (func(), error) {
	if d.cfg.NoDocker {
		return nil, nil
	}
	universe, _ := ipam.ParseRange(d.cfg.IPAllocRange)
	s, err := integration.New(integration.Config{DockerHost: d.cfg.DockerHost, PluginSockets: d.cfg.PluginSockets,
		ProxySocket: d.cfg.ProxySocket, Bridge: d.cfg.Bridge, PluginState: filepath.Join(d.cfg.DataDir, "docker-plugin.json"),
		Range: universe, Logger: d.log.With("component", "docker")})
	if err != nil {
		return nil, err
	}
	d.docker = s
	return func() { s.Close() }, nil
}

// resolver finds containers by name or ID for attach, if Docker is on.
func (d *Daemon) resolver() attach.Resolver {
	if d.docker == nil {
		return nil
	}
	return d.docker.Names()
}

// startDocker serves the network and IPAM plugin (in dockerd's network
// namespace: dockerd moves the veths it makes into the containers),
// follows the daemon's events so that addresses and names follow the
// containers' lives, and serves the API proxy.
func (d *Daemon) startDocker() (func(), error) {
	if d.docker == nil {
		return nil, nil
	}
	deps := integration.Deps{Addresses: d.ipam, Host: d.iso, Endpoints: d.att}
	if d.dns != nil {
		deps.DNS = d.dns
	}
	if err := d.docker.Start(deps); err != nil {
		return nil, err
	}
	return d.docker.Stop, nil
}

// optionalCollectors are the metrics of the services that may be off:
// Docker's and DNS.
func (d *Daemon) optionalCollectors() []prometheus.Collector {
	var out []prometheus.Collector
	if d.docker != nil {
		out = append(out, d.docker.Collectors()...)
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
	return d.docker.Status()
}

var _ integration.DNS = (*dns.Service)(nil)
