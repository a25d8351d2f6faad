package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	"github.com/weave-switch/weave-switch/router"
	"github.com/weave-switch/weave-switch/transport"
	quictransport "github.com/weave-switch/weave-switch/transport/quic"
	"github.com/weave-switch/weave-switch/transport/sleeve"
	"github.com/weave-switch/weave-switch/transport/wireguard"
)

// Version is the build's version, set with -ldflags.
var Version = "dev"

// Daemon is a running router with its host side and API.
type Daemon struct {
	cfg     Config
	log     *slog.Logger
	self    frame.PeerName
	started time.Time
	mtu     int
	tapName string
	tap     *host.TAP
	sleeve  *sleeve.Sleeve
	links   []mesh.Link
	listen  netip.AddrPort

	rt   *router.Router
	fp   *fastPath
	hs   *hostSide // isolation and NAT rules (isolation.go)
	mesh *mesh.Mesh
	ipam *ipam
	srv  *http.Server

	mu          sync.Mutex
	attachments map[string]api.Attachment // by namespace path

	undo []func() // in creation order; run in reverse
}

// Run sets everything up, serves until ctx is done or the router fails,
// then tears down what it created. It returns the first error.
func Run(ctx context.Context, cfg Config) error {
	d, err := Start(cfg)
	if err != nil {
		return err
	}
	var runErr error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "reason", context.Cause(ctx))
	case runErr = <-d.rt.Done():
		d.log.Error("router failed", "err", runErr)
	}
	return errors.Join(runErr, d.Close())
}

// Start sets up the router and returns once it is serving. The order
// makes the likely failures (bad peer, busy socket or port) happen before
// anything visible is created; whatever was created is removed on error.
func Start(cfg Config) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("up needs root (CAP_NET_ADMIN) to create the bridge and TAP")
	}
	d := &Daemon{cfg: c, log: c.Logger, started: time.Now(), attachments: map[string]api.Attachment{}}
	if err := d.start(); err != nil {
		d.teardown()
		return nil, err
	}
	return d, nil
}

func (d *Daemon) start() (err error) {
	c := d.cfg
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if d.self, err = peerName(c); err != nil {
		return err
	}
	listen, _ := parseListen(c.Listen)
	sl, err := sleeve.New(sleeve.Config{Self: d.self, Listen: listen, Encrypt: len(c.Password) > 0, Logger: d.log.With("component", "sleeve")})
	if err != nil {
		return fmt.Errorf("sleeve: %w", err)
	}
	d.sleeve = sl
	links := []mesh.Link{&mesh.UDPLink{T: sl, Port: listen.Port(), Encrypt: len(c.Password) > 0}}
	var extra []transport.Transport
	offered := c.offered()
	if offered["wireguard"] {
		wl, _ := parseListen(c.WireGuardListen)
		key, err := wireguard.LoadOrCreateKey(filepath.Join(c.DataDir, "wireguard.key"))
		if err != nil {
			return err
		}
		wg, err := wireguard.New(wireguard.Config{Self: d.self, Listen: wl, PrivateKey: key, Logger: d.log.With("component", "wireguard")})
		if err != nil {
			return fmt.Errorf("wireguard: %w", err)
		}
		links = append(links, &wgLink{t: wg, port: wl.Port()})
		extra = append(extra, wg)
	}
	if offered["quic"] {
		ql, _ := parseListen(c.QUICListen)
		cert, err := quictransport.LoadOrCreateCert(c.DataDir)
		if err != nil {
			return fmt.Errorf("quic certificate: %w", err)
		}
		q, err := quictransport.New(quictransport.Config{Self: d.self, Listen: ql, Certificate: &cert, Logger: d.log.With("component", "quic")})
		if err != nil {
			return fmt.Errorf("quic: %w", err)
		}
		links = append(links, &quicLink{t: q, port: ql.Port()})
		extra = append(extra, q)
	}
	d.mtu = c.MTU
	if d.mtu == 0 {
		// One bridge MTU for every link: the transport with the most
		// overhead decides.
		worst := 0
		for _, l := range links {
			worst = max(worst, l.Transport().Overhead())
		}
		d.mtu = 1500 - worst - frame.EthernetHeaderSize
	}
	d.links = links
	for _, p := range c.Peers {
		addr, _, _ := mesh.ParsePeerSpec(p)
		if _, err := sl.ParseEndpoint(addr); err != nil {
			return fmt.Errorf("--peer %s: %w", p, err)
		}
	}

	apiLn, err := listenAPI(c.API)
	if err != nil {
		return err
	}
	d.undo = append(d.undo, func() { apiLn.Close(); os.Remove(c.API) })

	// The TAP first, off the bridge, so that the router can bind its port
	// before the bridge exists.
	d.tapName = tapName(c.Bridge)
	queues, err := host.OpenTAPQueues(d.tapName, c.queues(), !c.NoOffload)
	if err != nil {
		return err
	}
	tap := queues[0]
	d.tap = tap
	var extraQueues []router.Device
	for _, q := range queues[1:] {
		extraQueues = append(extraQueues, q)
	}
	frameSize := frame.MaxFrameSize
	if tap.Offloads() {
		frameSize = frame.MaxSuperFrameSize
	} else if !c.NoOffload {
		d.log.Warn("TAP offloads unavailable: every frame crosses userspace on its own", "tap", d.tapName)
	}
	d.rt, err = router.New(router.Config{
		Self: d.self, Nickname: c.Nickname, Device: tap, Transport: sl, Logger: d.log.With("component", "router"), FrameSize: frameSize,
		Queues:  extraQueues,
		Extra:   extra,
		Workers: c.RxWorkers,
	})
	if err != nil {
		for _, q := range queues {
			q.Close()
		}
		sl.Close()
		for _, tr := range extra {
			tr.Close()
		}
		return err
	}
	if d.listen, err = d.rt.Start(); err != nil {
		for _, q := range queues {
			q.Close()
		}
		return fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	d.undo = append(d.undo, func() { d.rt.Close() })

	brMAC := make(net.HardwareAddr, 6)
	d.self.Put(brMAC)
	brMAC[0] = brMAC[0]&0xfe | 0x02
	brMAC[5] ^= 0x01 // not the peer name itself
	created, err := host.EnsureBridge(host.Bridge{Name: c.Bridge, MTU: d.mtu, MAC: brMAC})
	if err != nil {
		return err
	}
	if created {
		d.undo = append(d.undo, func() {
			if err := host.DeleteLink(c.Bridge); err != nil {
				d.log.Warn("remove bridge", "bridge", c.Bridge, "err", err)
			}
		})
	}
	if err := host.SetMaster(d.tapName, c.Bridge, d.mtu); err != nil {
		return err
	}
	if err := d.startHostSide(); err != nil {
		return err
	}

	if err := d.startIPAM(); err != nil {
		return err
	}
	d.mesh, err = mesh.New(mesh.Config{
		Self: d.self, Nickname: c.Nickname, Password: c.Password, Listen: d.listen,
		Peers: c.Peers, NoDiscovery: c.NoDiscovery, Router: d.rt, Links: links, DefaultTransport: c.Transport, MTU: d.mtu,
		Channels: d.meshChannels(),
		Logger:   d.log,
	})
	if err != nil {
		return err
	}
	d.ipam.mesh.Store(d.mesh)
	if err := d.mesh.Start(); err != nil {
		return err
	}
	d.undo = append(d.undo, func() { d.mesh.Close() })
	if err := d.startFastPath(); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(d), newIPAMCollector(d), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.Handle("/", api.NewHandler(d))
	mux.Handle("GET /metrics", metrics)
	d.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go d.srv.Serve(apiLn)
	if c.MetricsAddr != "" {
		ln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		msrv := &http.Server{Handler: metrics, ReadHeaderTimeout: 5 * time.Second}
		go msrv.Serve(ln)
		d.undo = append(d.undo, func() { msrv.Close() })
	}
	d.undo = append(d.undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		d.srv.Shutdown(ctx)
	})
	d.log.Info("router up", "name", d.self.String(), "nickname", c.Nickname, "listen", d.listen.String(),
		"bridge", c.Bridge, "tap", d.tapName, "mtu", d.mtu, "peers", c.Peers, "api", c.API)
	return nil
}

// Close detaches every namespace attached through this daemon, stops the
// router and removes what Start created. It is idempotent.
func (d *Daemon) Close() error {
	d.mu.Lock()
	atts := make([]string, 0, len(d.attachments))
	for ns := range d.attachments {
		atts = append(atts, ns)
	}
	d.attachments = map[string]api.Attachment{}
	d.mu.Unlock()
	var errs []error
	for _, ns := range atts {
		if _, err := host.Detach(ns); err != nil {
			errs = append(errs, err)
		}
	}
	d.teardown()
	return errors.Join(errs...)
}

func (d *Daemon) teardown() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.undo[i]()
	}
	d.undo = nil
}

func tapName(bridge string) string {
	const suffix = "-tap"
	if len(bridge)+len(suffix) > 15 {
		bridge = bridge[:15-len(suffix)]
	}
	return bridge + suffix
}

// listenAPI listens on the unix socket at path, replacing a stale socket
// but refusing to steal one a live router is serving.
func listenAPI(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("--api: a router is already serving %s", path)
	}
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("--api: %w", err)
	}
	_ = os.Chmod(path, 0o660)
	return ln, nil
}

// rateLimited logs at most one error per interval, counting the rest.
func rateLimited(l *slog.Logger, every time.Duration) func(string, ...any) {
	lim := &ratelimit.Limiter{Interval: every, Burst: 1}
	return func(f string, a ...any) {
		if ok, suppressed := lim.Allow(); ok {
			l.Error(fmt.Sprintf(f, a...), "suppressed", suppressed)
		}
	}
}

// Status implements api.Backend.Status.
func (d *Daemon) Status() api.Status {
	s := api.Status{
		Name: d.self.String(), Nickname: d.cfg.Nickname, Version: Version, Started: d.started,
		Listen: d.listen.String(), Transport: d.cfg.Transport,
		Bridge: d.cfg.Bridge, TAP: d.tapName, MTU: d.mtu,
	}
	st := d.sleeve.Stats()
	s.TransportStats = st
	for _, l := range d.links {
		if ls, ok := l.(interface{ Stats() any }); ok {
			if s.LinkTransportStats == nil {
				s.LinkTransportStats = map[string]any{}
			}
			s.LinkTransportStats[l.Name()] = ls.Stats()
		}
	}
	ms := d.mesh.Status(context.Background())
	s.Encryption = ms.Encryption
	data := map[string]router.PeerStatus{}
	for _, p := range d.rt.Peers() {
		data[p.Name.String()] = p
	}
	s.Fastpath = d.fastPathStatus()
	s.Host = d.hostStatus(false)
	fast := map[string]api.FastLink{}
	for _, l := range s.Fastpath.Links {
		fast[l.Peer] = l
	}
	for _, c := range ms.Connections {
		ac := api.Connection{
			Peer: c.Peer, Nickname: c.Nickname, Direction: c.Direction, Address: c.Address, State: c.State,
			Reason: c.Reason, Transport: c.Transport, Asked: c.Asked, Fallback: c.Fallback,
			Encrypted: c.Encrypted, MTU: c.MTU, PathMTU: c.PathMTU, NextTry: c.NextTry,
		}
		if c.Peer != "" {
			ac.Datapath, ac.DatapathReason = d.connDatapath(fast, c.Peer)
		}
		if c.RTT > 0 {
			ac.RTT = c.RTT.Round(time.Microsecond).String()
		}
		if p, ok := data[c.Peer]; ok && c.Peer != "" {
			ac.TxFrames, ac.TxBytes, ac.RxFrames, ac.RxBytes, ac.TxErrors = p.TxFrames, p.TxBytes, p.RxFrames, p.RxBytes, p.TxErrors
		}
		s.Connections = append(s.Connections, ac)
	}
	for _, p := range ms.Peers {
		s.Peers = append(s.Peers, api.Peer{Name: p.Name, Nickname: p.Nickname, UID: p.UID, Connections: p.Connections,
			Established: p.Established, Reachable: p.Reachable, NextHop: p.NextHop})
	}
	sws := d.rt.Switch().Stats()
	s.Switch = api.SwitchStats{
		Entries: sws.Entries, Capacity: d.rt.MACCapacity(), Learned: sws.Learned, Moves: sws.Moves,
		Evictions: sws.Evictions, Drops: map[string]uint64{
			"malformed": sws.DropMalformed, "multicast_src": sws.DropMulticastSrc, "link_local": sws.DropLinkLocal,
			"echo": sws.DropEcho, "local_dst": sws.DropLocalDst, "own_frame": sws.DropOwnFrame, "no_src_peer": sws.DropNoSrcPeer,
		},
	}
	c := d.rt.Counters()
	s.Data = api.DataStats{FromBridge: c.FromDevice, ToBridge: c.ToDevice, NoPeer: c.NoPeer, NoRoute: c.NoRoute, Unknown: c.UnknownSender,
		SendErrors: c.SendErrors, DevErrors: c.DeviceErrors, Offload: d.tap.Dropped(), RxQueue: c.RxQueueDrops}
	d.mu.Lock()
	for _, a := range d.attachments {
		s.Attachments = append(s.Attachments, a)
	}
	d.mu.Unlock()
	slices.SortFunc(s.Attachments, func(a, b api.Attachment) int { return cmp.Compare(a.NetNS, b.NetNS) })
	s.IPAM = d.ipamStatus(s.Peers)
	return s
}

// Attach implements api.Backend.Attach.
func (d *Daemon) Attach(ctx context.Context, req api.AttachRequest) (api.Attachment, error) {
	for _, p := range req.CIDRs {
		if !p.IsValid() || p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen() {
			return api.Attachment{}, &api.BadRequestError{Err: fmt.Errorf("attach: %s is a network address, not a host address", p)}
		}
	}
	path, err := host.NetNSPath(req.NetNS)
	if err != nil {
		return api.Attachment{}, &api.BadRequestError{Err: err}
	}
	cidrs, undo, err := d.ipamAddresses(ctx, path, req)
	if err != nil {
		return api.Attachment{}, err
	}
	mac, unisolate, err := d.isolatePort(ctx, path, req, cidrs)
	if err != nil {
		undo()
		return api.Attachment{}, err
	}
	a, err := host.AttachWithMAC(d.cfg.Bridge, path, cidrs, d.mtu, mac)
	if err != nil {
		unisolate()
		undo()
		return api.Attachment{}, err
	}
	d.announce(path, a)
	out := api.Attachment{NetNS: a.NetNS, HostVeth: a.HostVeth, MAC: a.MAC, Addrs: a.Addrs}
	d.mu.Lock()
	d.attachments[path] = out
	d.mu.Unlock()
	d.log.Info("attached", "netns", path, "veth", a.HostVeth, "mac", a.MAC, "addrs", a.Addrs)
	return out, nil
}

// Detach implements api.Backend.Detach.
func (d *Daemon) Detach(ctx context.Context, req api.DetachRequest) (api.DetachResponse, error) {
	path, err := host.NetNSPath(req.NetNS)
	if err != nil {
		if freed := d.ipamReleaseGone(req.NetNS); len(freed) > 0 {
			return api.DetachResponse{Released: freed}, nil
		}
		return api.DetachResponse{}, &api.BadRequestError{Err: err}
	}
	ok, err := host.Detach(path)
	if err != nil {
		return api.DetachResponse{}, err
	}
	d.mu.Lock()
	was, attached := d.attachments[path]
	delete(d.attachments, path)
	d.mu.Unlock()
	freed := d.ipamRelease(path)
	if attached {
		d.unisolatePort(ctx, path, was)
	}
	d.log.Info("detached", "netns", path, "was_attached", ok)
	return api.DetachResponse{Detached: ok, Released: freed}, nil
}

// Connect implements api.Backend.Connect.
func (d *Daemon) Connect(ctx context.Context, req api.ConnectRequest) error {
	if req.Address == "" {
		return &api.BadRequestError{Err: errors.New("connect: no address")}
	}
	if _, err := d.sleeve.ParseEndpoint(req.Address); err != nil {
		return &api.BadRequestError{Err: fmt.Errorf("connect: %w", err)}
	}
	return d.mesh.Connect(ctx, req.Address, req.Transport)
}

// Forget implements api.Backend.Forget.
func (d *Daemon) Forget(ctx context.Context, req api.ConnectRequest) (api.ForgetResponse, error) {
	ok, err := d.mesh.Forget(ctx, req.Address)
	return api.ForgetResponse{Forgotten: ok}, err
}
