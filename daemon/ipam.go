package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
)

// allocTimeout bounds how long attach waits for an address (for the ring
// or for space from a peer), and rmpeer for every member's agreement.
const (
	allocTimeout  = 20 * time.Second
	rmpeerTimeout = 15 * time.Second
)

// ipam is the daemon's address allocator: the alloc.Service, its bbolt
// store in the data directory, and the mesh that carries its state.
type ipam struct {
	svc   *alloc.Service
	store *alloc.BoltStore
	mesh  atomic.Pointer[mesh.Mesh]
	def   netip.Prefix
}

func (c Config) ipamRange() netip.Prefix {
	if c.IPAllocRange == "" {
		return alloc.DefaultUniverse
	}
	p, _ := netip.ParsePrefix(c.IPAllocRange)
	return p.Masked()
}

func (c Config) validateIPAM() []error {
	var errs []error
	if c.IPAllocRange != "" {
		p, err := netip.ParsePrefix(c.IPAllocRange)
		if err == nil && (!p.Addr().Is4() || p.Bits() < 8 || p.Bits() > 30) {
			err = errors.New("want an IPv4 CIDR from /8 to /30")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--ipalloc-range %q: %w", c.IPAllocRange, err))
		}
	}
	for _, s := range c.IPAllocSeeds {
		if _, err := frame.ParsePeerName(s); err != nil {
			errs = append(errs, fmt.Errorf("--ipalloc-seed %q: %w (seeds are peer names, see --name)", s, err))
		}
	}
	return errs
}

// startIPAM opens the allocator's database and starts it, before the mesh
// (which carries its channel).
func (d *Daemon) startIPAM() error {
	c := d.cfg
	var seeds []frame.PeerName
	for _, s := range c.IPAllocSeeds {
		p, _ := frame.ParsePeerName(s)
		seeds = append(seeds, p)
	}
	yield := false
	if len(seeds) == 0 && len(c.Peers) == 0 {
		// The first router of a cluster: it seeds the ring alone, and
		// gives way to a peer's ring while its own is unused.
		seeds, yield = []frame.PeerName{d.self}, true
	}
	store, err := alloc.OpenBolt(filepath.Join(c.DataDir, "ipam.db"))
	if err != nil {
		return fmt.Errorf("ipam: %w", err)
	}
	ip := &ipam{store: store, def: alloc.DefaultSubnet(c.ipamRange())}
	svc, err := alloc.NewService(alloc.Config{
		Self: d.self, Universe: c.ipamRange(), Seeds: seeds, Yield: yield, Store: store, Logger: d.log,
		Alive: func(p frame.PeerName) bool {
			m := ip.mesh.Load()
			return m != nil && m.Alive(p)
		},
	})
	if err != nil {
		store.Close()
		return err
	}
	ip.svc = svc
	d.ipam = ip
	d.undo = append(d.undo, func() { svc.Close(); store.Close() })
	d.log.Info("ipam", "range", c.ipamRange().String(), "default_subnet", ip.def.String(), "state", svc.Status().State)
	return nil
}

// ipamChannels are the CRDTs the mesh carries for the allocator.
func (d *Daemon) ipamChannels() map[uint8]mesh.Channel {
	return map[uint8]mesh.Channel{alloc.ChannelID: d.ipam.svc}
}

// ipamAddresses works out a container's addresses: explicit CIDRs are
// claimed (so the allocator never hands them out elsewhere), and each
// requested subnet (the default one without any request) gets an
// allocated address, under the namespace's key, so that a re-attach
// finds the same ones. undo releases what this call allocated.
func (d *Daemon) ipamAddresses(ctx context.Context, key string, req api.AttachRequest) (cidrs []netip.Prefix, undo func(), err error) {
	svc := d.ipam.svc
	had := svc.Lookup(key)
	undo = func() {
		if len(had) == 0 {
			svc.Release(key)
		}
	}
	for _, p := range req.CIDRs {
		switch err := svc.Claim(key, p.Addr()); {
		case errors.Is(err, alloc.ErrInUse):
			return nil, undo, &api.BadRequestError{Err: fmt.Errorf("attach: %w", err)}
		case err != nil:
			d.log.Info("explicit address not claimed yet", "addr", p.Addr().String(), "why", err)
		}
		cidrs = append(cidrs, p)
	}
	specs := req.Subnets
	if len(specs) == 0 && len(req.CIDRs) == 0 {
		specs = []string{"net:default"}
	}
	ctx, cancel := context.WithTimeout(ctx, allocTimeout)
	defer cancel()
	for _, spec := range specs {
		sub, err := alloc.ParseSubnet(svc.Universe(), d.ipam.def, spec)
		if err != nil {
			undo()
			return nil, undo, &api.BadRequestError{Err: fmt.Errorf("attach: %w", err)}
		}
		ad, err := svc.Allocate(ctx, key, sub)
		if err != nil {
			undo()
			if errors.Is(err, alloc.ErrExhausted) {
				err = &api.BadRequestError{Err: err}
			}
			return nil, undo, fmt.Errorf("attach: %w", err)
		}
		p := netip.PrefixFrom(ad, sub.Bits())
		if !slices.Contains(cidrs, p) {
			cidrs = append(cidrs, p)
		}
	}
	return cidrs, undo, nil
}

// ipamRelease frees a detached namespace's addresses.
func (d *Daemon) ipamRelease(key string) []netip.Addr {
	freed := d.ipam.svc.Release(key)
	if len(freed) > 0 {
		d.log.Info("addresses released", "netns", key, "addrs", freed)
	}
	return freed
}

// ipamReleaseGone frees the addresses of a namespace that no longer exists
// (its container died), by the key its spec (PID, path or name) had.
func (d *Daemon) ipamReleaseGone(spec string) []netip.Addr {
	key := filepath.Join("/run/netns", spec)
	switch {
	case spec == "":
		return nil
	case strings.Trim(spec, "0123456789") == "":
		key = "/proc/" + spec + "/ns/net"
	case strings.ContainsRune(spec, '/'):
		key = spec
	}
	return d.ipamRelease(key)
}

// ipamStatus converts the allocator's status, with the peers' nicknames.
func (d *Daemon) ipamStatus(peers []api.Peer) *api.IPAMStatus {
	st := d.ipam.svc.Status()
	nick := map[string]string{}
	for _, p := range peers {
		nick[p.Name] = p.Nickname
	}
	out := &api.IPAMStatus{Range: st.Range, DefaultSubnet: st.DefaultSubnet, State: st.State, Seeds: st.Seeds,
		Wants: st.Wants, Error: st.Error, Peers: []api.IPAMPeer{}, Allocations: []api.IPAMAllocation{}}
	for _, p := range st.Peers {
		name := p.Name.String()
		if p.Self {
			nick[name] = d.cfg.Nickname
		}
		out.Peers = append(out.Peers, api.IPAMPeer{Name: name, Nickname: nick[name], Self: p.Self, Reachable: p.Alive,
			Removed: p.Removed, Ranges: p.Ranges, Addresses: p.Addresses, Free: p.Free, Wants: p.Wants, Reclaiming: p.Reclaims})
	}
	for k, as := range st.Allocations {
		out.Allocations = append(out.Allocations, api.IPAMAllocation{Key: k, Addrs: as})
	}
	slices.SortFunc(out.Allocations, func(a, b api.IPAMAllocation) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// RmPeer implements api.Backend.RmPeer.
func (d *Daemon) RmPeer(ctx context.Context, req api.RmPeerRequest) (api.RmPeerResponse, error) {
	if len(req.Names) == 0 {
		return api.RmPeerResponse{}, &api.BadRequestError{Err: errors.New("rmpeer: name at least one peer")}
	}
	st := d.Status()
	var dead []frame.PeerName
	for _, n := range req.Names {
		p, err := resolvePeer(n, st)
		if err != nil {
			return api.RmPeerResponse{}, &api.BadRequestError{Err: fmt.Errorf("rmpeer: %w", err)}
		}
		dead = append(dead, p)
	}
	ctx, cancel := context.WithTimeout(ctx, rmpeerTimeout)
	defer cancel()
	n, err := d.ipam.svc.RmPeer(ctx, dead)
	if err != nil {
		if errors.Is(err, alloc.ErrRefused) {
			err = &api.BadRequestError{Err: err}
		}
		return api.RmPeerResponse{}, err
	}
	d.log.Info("rmpeer: reclaimed the space of dead peers", "peers", req.Names, "addresses", n)
	return api.RmPeerResponse{Reclaimed: n}, nil
}

// resolvePeer reads a peer name, or a nickname known to the topology or
// the allocator.
func resolvePeer(s string, st api.Status) (frame.PeerName, error) {
	if p, err := frame.ParsePeerName(s); err == nil {
		return p, nil
	}
	var found []string
	for _, p := range st.Peers {
		if p.Nickname == s {
			found = append(found, p.Name)
		}
	}
	if st.IPAM != nil {
		for _, p := range st.IPAM.Peers {
			if p.Nickname == s && !slices.Contains(found, p.Name) {
				found = append(found, p.Name)
			}
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%q is neither a peer name nor the nickname of a known peer", s)
	case 1:
		return frame.ParsePeerName(found[0])
	}
	return 0, fmt.Errorf("nickname %q is ambiguous (%s): give the peer name", s, strings.Join(found, ", "))
}

// ipamCollector exposes the allocator to Prometheus, read at scrape time.
type ipamCollector struct {
	d                                 *Daemon
	owned, free, allocated, unreached *prometheus.Desc
	wants                             *prometheus.Desc
}

func newIPAMCollector(d *Daemon) *ipamCollector {
	const ns = "weave_switch_ipam"
	return &ipamCollector{
		d:         d,
		owned:     prometheus.NewDesc(ns+"_owned_addresses", "Addresses of the range this router owns.", nil, nil),
		free:      prometheus.NewDesc(ns+"_free_addresses", "Addresses this router owns and has not handed out.", nil, nil),
		allocated: prometheus.NewDesc(ns+"_allocated_addresses", "Addresses this router handed out to containers.", nil, nil),
		unreached: prometheus.NewDesc(ns+"_unreachable_addresses", "Addresses owned by peers that are unreachable now (candidates for rmpeer if gone).", nil, nil),
		wants:     prometheus.NewDesc(ns+"_pending_requests", "Subnets this router is waiting for space in.", nil, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *ipamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.owned, c.free, c.allocated, c.unreached, c.wants} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *ipamCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.d.ipam.svc.Status()
	var owned, free, unreached, allocated float64
	for _, p := range st.Peers {
		switch {
		case p.Self:
			owned, free = float64(p.Addresses), float64(p.Free)
		case !p.Alive && !p.Removed:
			unreached += float64(p.Addresses)
		}
	}
	for _, as := range st.Allocations {
		allocated += float64(len(as))
	}
	ch <- prometheus.MustNewConstMetric(c.owned, prometheus.GaugeValue, owned)
	ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, free)
	ch <- prometheus.MustNewConstMetric(c.allocated, prometheus.GaugeValue, allocated)
	ch <- prometheus.MustNewConstMetric(c.unreached, prometheus.GaugeValue, unreached)
	ch <- prometheus.MustNewConstMetric(c.wants, prometheus.GaugeValue, float64(len(st.Wants)))
}
