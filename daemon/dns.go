package daemon

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/dns"
	"github.com/weave-switch/weave-switch/host"
)

// startDNS builds the DNS server and the mesh-wide name registry, and
// starts serving, before the mesh, which gossips the registry.
func (d *Daemon) startDNS() (func(), error) {
	c := d.cfg
	if c.NoDNS {
		return nil, nil
	}
	cfg := dns.Config{Self: d.self, Bridge: c.Bridge, BridgeAddrs: host.BridgeAddrs, Domain: c.DNSDomain, TTL: c.DNSTTL,
		DataDir: c.DataDir, Now: d.clock.Now, Logger: d.log.With("component", "dns")}
	if c.DNSListen != "" {
		ap, err := netip.ParseAddrPort(c.DNSListen)
		if err != nil {
			return nil, fmt.Errorf("--dns-listen: %w", err)
		}
		cfg.Listen = ap
	}
	svc, err := dns.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := svc.Start(); err != nil {
		return nil, err
	}
	d.dns = svc
	return func() { svc.Close() }, nil
}

// names is what attach registers containers' names with; nil without
// DNS.
func (d *Daemon) names() attach.Names {
	if d.dns == nil {
		return nil
	}
	return d.dns
}

// dnsBackend serves the API's DNS routes; nil without DNS.
func (d *Daemon) dnsBackend() api.DNSBackend {
	if d.dns == nil {
		return nil
	}
	return d.dns
}

// rmpeer serves the API's rmpeer: the allocator reclaims the dead peers'
// address space, and their names leave the DNS registry mesh-wide.
type rmpeer struct{ d *Daemon }

func (r rmpeer) RmPeer(ctx context.Context, req api.RmPeerRequest) (api.RmPeerResponse, error) {
	out, err := r.d.ipam.RmPeer(ctx, req)
	if err != nil || r.d.dns == nil {
		return out, err
	}
	nick := r.d.mesh.Nicknames()
	for _, n := range req.Names {
		// The allocator accepted every name: each names one peer.
		if p, err := ipam.ResolvePeer(n, nick); err == nil {
			if _, err := r.d.dns.ForgetPeer(p); err != nil {
				r.d.log.Warn("rmpeer: names not forgotten", "peer", p.String(), "err", err)
			}
		}
	}
	return out, nil
}
