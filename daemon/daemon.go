package daemon

import (
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
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/dns"
	"github.com/weave-switch/weave-switch/docker/integration"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/clock"
	"github.com/weave-switch/weave-switch/internal/meshsecret"
	"github.com/weave-switch/weave-switch/isolation"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kube"
	"github.com/weave-switch/weave-switch/router"
	"github.com/weave-switch/weave-switch/transport"
	quictransport "github.com/weave-switch/weave-switch/transport/quic"
	"github.com/weave-switch/weave-switch/transport/sleeve"
	"github.com/weave-switch/weave-switch/transport/wireguard"
	"github.com/weave-switch/weave-switch/web"
)

// Daemon is a running router: the services of one host, built in order
// by Start and torn down in reverse by Close.
type Daemon struct {
	cfg     config.Config
	log     *slog.Logger
	self    frame.PeerName
	started time.Time
	mtu     int
	tapName string
	listen  netip.AddrPort
	secret  string // where the mesh's secret came from: Secret*
	// clock is every service's wall clock; only the API's test hook
	// (with TestClock) steps it.
	clock clock.Stepped

	sleeve *sleeve.Sleeve
	extra  []transport.Transport // the WireGuard and QUIC transports offered
	links  []mesh.Link
	queues []*host.TAP

	rt      *router.Router
	iso     *isolation.Service
	ipam    *ipam.Service
	mesh    *mesh.Mesh
	fast    *kernel.Service
	att     *attach.Service
	docker  *integration.Service // nil with --no-docker
	dns     *dns.Service         // nil with --no-dns
	apiLn   net.Listener
	metrics http.Handler
	// web serves the status page over TCP (--http-addr); set after the
	// API serves, so read by its handlers concurrently.
	web atomic.Pointer[web.Server]

	// kube is the cluster's API and kubeRing how the allocation ring is
	// seeded, in Kubernetes mode (kubeSeeds).
	kube     *kube.Client
	kubeRing *ringSeeds

	undo []undoStep // in creation order; run in reverse

	stop     chan struct{} // closed by the API's down: Wait returns
	stopOnce sync.Once
}

// A step is one stage of Start: run builds or starts one thing and
// returns how to undo exactly that, or nil when there is nothing to undo.
type step struct {
	name string
	run  func() (undo func(), err error)
}

type undoStep struct {
	name string
	fn   func()
}

// Run sets everything up, serves until ctx is done, the router fails or
// the API asks it to stop, then tears down what it created. It returns
// the first error.
func Run(ctx context.Context, cfg config.Config) error {
	d, err := Start(cfg)
	if err != nil {
		return err
	}
	runErr := d.Wait(ctx)
	return errors.Join(runErr, d.Close())
}

// Wait serves until ctx is done, the router fails (its error is
// returned) or the API's down asks the router to stop. Close follows.
func (d *Daemon) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "reason", context.Cause(ctx))
	case <-d.stop:
		d.log.Info("shutting down", "reason", "down requested through the API")
	case err := <-d.rt.Done():
		d.log.Error("router failed", "err", err)
		return err
	}
	return nil
}

// Start builds and starts every service and returns once the router is
// serving. Whatever a failed Start created is removed before it returns.
func Start(cfg config.Config) (*Daemon, error) { return start(cfg, "") }

// start is Start; failAfter names a step that fails right after it ran,
// so that tests can check what a failed start leaves behind.
func start(cfg config.Config, failAfter string) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.WithDefaults()
	if os.Geteuid() != 0 {
		return nil, errors.New("up needs root (CAP_NET_ADMIN) to create the bridge and TAP")
	}
	d := &Daemon{cfg: c, log: c.Logger, started: time.Now(), stop: make(chan struct{})}
	if c.TestClock {
		if _, ok := d.clock.Step(c.TestClockOffset); !ok {
			return nil, fmt.Errorf("test clock offset %v beyond ±%v", c.TestClockOffset, clock.MaxStep)
		}
		d.log.Warn("test clock on: the API steps this router's wall clock", "offset", c.TestClockOffset.String())
	}
	for _, s := range d.steps() {
		undo, err := s.run()
		if undo != nil {
			d.undo = append(d.undo, undoStep{s.name, undo})
		}
		if err == nil && s.name == failAfter {
			err = fmt.Errorf("injected failure after step %s", s.name)
		}
		if err != nil {
			d.teardown()
			return nil, err
		}
	}
	d.log.Info("router up", "name", d.self.String(), "nickname", c.Nickname, "listen", d.listen.String(),
		"bridge", c.Bridge, "tap", d.tapName, "mtu", d.mtu, "peers", c.Peers, "api", c.API, "secret", d.secret)
	if d.secret == meshsecret.None {
		d.log.Warn("INSECURE mesh: no secret; status shows insecure=true")
	} else if tok, err := d.JoinToken(); err != nil {
		d.log.Warn("no join token", "err", err)
	} else {
		d.log.Info("other hosts join this mesh with: weave-switch up --join " + tok)
	}
	return d, nil
}

// steps is Start's plan. The order makes the likely failures (a bad
// peer, a busy socket or port) happen before anything visible is made:
// transports are built and the API socket taken before the TAP, the TAP
// before the bridge, and the bridge's policy before any peer connects.
func (d *Daemon) steps() []step {
	return []step{
		{"identity", d.startIdentity},
		{"kube-seeds", d.kubeSeeds},
		{"transports", d.buildTransports},
		{"api-socket", d.listenAPI},
		{"tap", d.openTAP},
		{"router", d.startRouter},
		{"bridge", d.startBridge},
		{"isolation", d.startIsolation},
		{"ipam", d.startIPAM},
		{"dns", d.startDNS},
		{"mesh", d.startMesh},
		{"kube", d.startKube},
		{"fastpath", d.startFastPath},
		{"docker-client", d.dockerClient},
		{"attach", d.startAttach},
		{"docker", d.startDocker},
		{"api", d.serveAPI},
		{"metrics", d.serveMetrics},
		{"http", d.serveWeb},
	}
}

// Close detaches every namespace attached through this daemon, stops
// every service and removes what Start created, in reverse order. It is
// idempotent.
func (d *Daemon) Close() error {
	d.teardown()
	return nil
}

func (d *Daemon) teardown() {
	for i := len(d.undo) - 1; i >= 0; i-- {
		d.log.Debug("teardown", "step", d.undo[i].name)
		d.undo[i].fn()
	}
	d.undo = nil
}

// startIdentity makes the data directory and resolves the peer name.
func (d *Daemon) startIdentity() (func(), error) {
	if err := os.MkdirAll(d.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	self, replaced, err := peerName(d.cfg)
	if err != nil {
		return nil, err
	}
	d.self = self
	if replaced != frame.UnknownPeer {
		d.log.Warn("the data dir's peer name is replaced by the one derived from the node's name (Kubernetes mode)",
			"was", replaced.String(), "now", self.String(), "node", d.cfg.KubeNodeName)
	}
	d.cfg.Password, d.secret, err = resolveSecret(d.cfg)
	if err != nil {
		return nil, err
	}
	switch d.secret {
	case meshsecret.None:
		d.log.Warn("INSECURE: this mesh has no secret (--insecure): anyone who reaches its ports can join it, read its traffic and put frames on its bridge")
	case meshsecret.FromPassword:
		d.log.Info("mesh secret: the password given (--password-file or WEAVE_SWITCH_PASSWORD); it wins over any secret kept in the data dir")
	case meshsecret.FromCreated:
		d.log.Info("mesh secret: made a new one", "file", meshsecret.Path(d.cfg.DataDir))
	default:
		d.log.Info("mesh secret", "from", d.secret)
	}
	return nil, nil
}

// buildTransports builds the sleeve and every offered transport (none
// binds before the router opens it), and derives the bridge MTU from the
// one with the most overhead.
func (d *Daemon) buildTransports() (func(), error) {
	c := d.cfg
	var built []transport.Transport
	undo := func() {
		for _, t := range built {
			if err := t.Close(); err != nil {
				d.log.Warn("close transport", "err", err)
			}
		}
	}
	encrypt := len(c.Password) > 0
	listen, _ := transport.ParseListen(c.Listen, config.DefaultPort)
	cipher, err := sleeve.ParseCipher(c.Cipher)
	if err != nil {
		return undo, fmt.Errorf("--cipher: %w", err)
	}
	sl, err := sleeve.New(sleeve.Config{Self: d.self, Listen: listen, Encrypt: encrypt, Cipher: cipher, Logger: d.log.With("component", "sleeve")})
	if err != nil {
		return undo, fmt.Errorf("sleeve: %w", err)
	}
	built = append(built, sl)
	d.sleeve = sl
	d.links = []mesh.Link{sleeve.NewLink(sl, listen.Port())}
	for _, p := range c.Peers {
		addr, _, _ := mesh.ParsePeerSpec(p)
		if _, err := sl.ParseEndpoint(addr); err != nil {
			return undo, fmt.Errorf("--peer %s: %w", p, err)
		}
	}
	offered := c.Offered()
	if offered["wireguard"] {
		wl, _ := transport.ParseListen(c.WireGuardListen, config.DefaultPort)
		key, err := wireguard.LoadOrCreateKey(filepath.Join(c.DataDir, "wireguard.key"))
		if err != nil {
			return undo, err
		}
		wg, err := wireguard.New(wireguard.Config{Self: d.self, Listen: wl, PrivateKey: key, Keepalive: c.Keepalive, Logger: d.log.With("component", "wireguard")})
		if err != nil {
			return undo, fmt.Errorf("wireguard: %w", err)
		}
		built = append(built, wg)
		d.extra = append(d.extra, wg)
		d.links = append(d.links, wireguard.NewLink(wg, wl.Port()))
	}
	if offered["quic"] {
		ql, _ := transport.ParseListen(c.QUICListen, config.DefaultPort)
		cert, err := quictransport.LoadOrCreateCert(c.DataDir)
		if err != nil {
			return undo, fmt.Errorf("quic certificate: %w", err)
		}
		q, err := quictransport.New(quictransport.Config{Self: d.self, Listen: ql, Certificate: &cert, KeepAlive: c.Keepalive, Logger: d.log.With("component", "quic")})
		if err != nil {
			return undo, fmt.Errorf("quic: %w", err)
		}
		built = append(built, q)
		d.extra = append(d.extra, q)
		d.links = append(d.links, quictransport.NewLink(q, ql.Port()))
	}
	d.mtu = c.MTU
	if d.mtu == 0 {
		// One bridge MTU for every link: the transport with the most
		// overhead decides.
		worst := 0
		for _, l := range d.links {
			worst = max(worst, l.Transport().Overhead())
		}
		d.mtu = 1500 - worst - frame.EthernetHeaderSize
	}
	return undo, nil
}

// listenAPI takes the API's unix socket.
func (d *Daemon) listenAPI() (func(), error) {
	ln, err := api.Listen(d.cfg.API)
	if err != nil {
		return nil, err
	}
	d.apiLn = ln
	return func() { ln.Close(); os.Remove(d.cfg.API) }, nil
}

// openTAP opens the router's port, off the bridge, so that the router
// can bind its transports before the bridge exists.
func (d *Daemon) openTAP() (func(), error) {
	d.tapName = host.TAPName(d.cfg.Bridge)
	queues, err := host.OpenTAPQueues(d.tapName, d.cfg.TAPQueues(), !d.cfg.NoOffload)
	if err != nil {
		return nil, err
	}
	d.queues = queues
	return func() {
		for _, q := range queues {
			q.Close()
		}
	}, nil
}

// startRouter builds the router on the TAP and the transports, and opens
// them.
func (d *Daemon) startRouter() (func(), error) {
	c := d.cfg
	tap := d.queues[0]
	var more []router.Device
	for _, q := range d.queues[1:] {
		more = append(more, q)
	}
	frameSize := frame.MaxFrameSize
	if tap.Offloads() {
		frameSize = frame.MaxSuperFrameSize
	} else if !c.NoOffload {
		d.log.Warn("TAP offloads unavailable: every frame crosses userspace on its own", "tap", d.tapName)
	}
	rt, err := router.New(router.Config{
		Self: d.self, Nickname: c.Nickname, Device: tap, Transport: d.sleeve, Logger: d.log.With("component", "router"),
		FrameSize: frameSize, Queues: more, Extra: d.extra, Workers: c.RxWorkers, Now: d.clock.Now,
		IdleHeartbeat: c.Keepalive,
	})
	if err != nil {
		return nil, err
	}
	if d.listen, err = rt.Start(); err != nil {
		return nil, fmt.Errorf("listen %s: %w", c.Listen, err)
	}
	d.rt = rt
	return func() { rt.Close() }, nil
}

// startBridge creates the bridge (unless it exists) and plugs the TAP
// into it.
func (d *Daemon) startBridge() (func(), error) {
	br := d.cfg.Bridge
	created, err := host.EnsureBridge(host.Bridge{Name: br, MTU: d.mtu, MAC: host.BridgeMAC(d.self)})
	if err != nil {
		return nil, err
	}
	var undo func()
	if created {
		undo = func() {
			if err := host.DeleteLink(br); err != nil {
				d.log.Warn("remove bridge", "bridge", br, "err", err)
			}
		}
	}
	return undo, host.SetMaster(d.tapName, br, d.mtu)
}

// startIsolation puts the bridge's policy in place before any container
// or peer can send a frame.
func (d *Daemon) startIsolation() (func(), error) {
	c := d.cfg
	var allow []isolation.Pair
	for _, s := range c.Allow {
		pr, err := isolation.ParsePair(s)
		if err != nil {
			return nil, fmt.Errorf("--allow %q: %w", s, err)
		}
		allow = append(allow, pr)
	}
	seeds, yield, _ := ipam.ParseSeeds(c.IPAllocSeeds, d.self, len(c.Peers) > 0)
	var await bool
	if r := d.kubeRing; r != nil {
		seeds, yield, await = r.seeds, r.yield, r.await
	}
	universe, _ := ipam.ParseRange(c.IPAllocRange)
	d.ipam = ipam.New(ipam.Config{Self: d.self, Nickname: c.Nickname, Range: universe, Seeds: seeds, Yield: yield, Await: await,
		DataDir: c.DataDir, Logger: d.log.With("component", "ipam")})
	trusted := []string{d.tapName}
	for _, name := range fastPathPorts {
		trusted = append(trusted, name(c.Bridge))
	}
	slices.Sort(trusted)
	d.iso = isolation.NewService(isolation.ServiceConfig{Self: d.self, Bridge: c.Bridge, Isolate: !c.NoIsolation, Trusted: trusted,
		Allow: allow, DataDir: c.DataDir, Addresses: d.ipam, Now: d.clock.Now, Logger: d.log.With("component", "isolation")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.iso.Start(ctx); err != nil {
		return nil, err
	}
	return func() { d.iso.Close() }, nil
}

// startIPAM opens the allocator's database and starts it, before the
// mesh, which carries its channel.
func (d *Daemon) startIPAM() (func(), error) {
	if err := d.ipam.Start(); err != nil {
		return nil, err
	}
	return func() { d.ipam.Close() }, nil
}

// startMesh connects to the peers and gossips the topology and the
// services' channels.
func (d *Daemon) startMesh() (func(), error) {
	c := d.cfg
	m, err := mesh.New(mesh.Config{
		Self: d.self, Nickname: c.Nickname, Password: c.Password, Listen: d.listen,
		Peers: c.Peers, NoDiscovery: c.NoDiscovery, Relay: c.Relay, NoPunch: c.NoPunch, Router: d.rt, Links: d.links, DefaultTransport: c.Transport, MTU: d.mtu,
		Channels: d.channels(), LocalAddrs: d.localAddrs,
		Now:    d.clock.Now,
		Logger: d.log,
	})
	if err != nil {
		return nil, err
	}
	d.ipam.SetTopology(m)
	if d.dns != nil {
		d.dns.SetLiveness(m)
		d.dns.SetNicknames(m)
	}
	if err := m.Start(); err != nil {
		return nil, err
	}
	d.mesh = m
	return func() { m.Close() }, nil
}

// channels are the services' CRDTs the mesh gossips, by channel.
func (d *Daemon) channels() map[uint8]mesh.Channel {
	ch := map[uint8]mesh.Channel{alloc.ChannelID: d.ipam.Channel(), isolation.AllowChannelID: d.iso.Pairs()}
	if d.dns != nil {
		ch[dns.ChannelID] = d.dns.Registry()
	}
	return ch
}

// startFastPath picks the kernel fast path and starts reconciling it.
func (d *Daemon) startFastPath() (func(), error) {
	c := d.cfg
	d.fast = kernel.NewService(kernel.ServiceConfig{
		Mode: c.Datapath, Encrypted: len(c.Password) > 0, Unencrypted: c.FastPathUnencrypted, Builders: backends,
		Env:    kernel.Env{Self: d.self, Bridge: c.Bridge, TAP: d.tapName, MTU: d.mtu, Port: uint16(c.FastPathPort)},
		Now:    d.clock.Now,
		Logger: d.log.With("component", "fastpath"),
	})
	if err := d.fast.Start(d.rt); err != nil {
		return nil, err
	}
	return func() { d.fast.Close() }, nil
}

// startAttach makes the service that attaches containers; its undo
// detaches every container attached through it.
func (d *Daemon) startAttach() (func(), error) {
	d.att = attach.New(attach.Config{Bridge: d.cfg.Bridge, MTU: d.mtu, Addresses: d.ipam, Ports: d.iso,
		Switch: d.rt, Resolver: d.resolver(), Names: d.names(), StateDir: d.cfg.CNIStateDir, Logger: d.log.With("component", "attach")})
	if err := d.att.Start(); err != nil {
		return nil, err
	}
	return func() {
		if err := d.att.Close(); err != nil {
			d.log.Warn("detach", "err", err)
		}
	}, nil
}

// serveAPI serves the API and the metrics on the API socket.
func (d *Daemon) serveAPI() (func(), error) {
	d.metrics = d.metricsHandler()
	mux := http.NewServeMux()
	mux.Handle("/", api.NewHandler(api.Backends{
		Status: d.Status, Containers: d.att, Peers: peers{d}, IPAM: rmpeer{d}, Host: d.iso, JoinToken: d.JoinToken, DNS: d.dnsBackend(),
		Shutdown: d.shutdown, Clock: d.clockHook(),
	}))
	mux.Handle("GET /metrics", d.metrics)
	page := web.Handler(d.webSource())
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /web/", page)
	return api.Serve(d.apiLn, mux, api.SocketTimeouts, d.log), nil
}

// webSource is what the status page shows: the status, and the DNS
// names unless --no-dns.
func (d *Daemon) webSource() web.Source {
	src := web.Source{Status: d.Status}
	if b := d.dnsBackend(); b != nil {
		src.DNS = b.DNSStatus
	}
	return src
}

// serveWeb serves the status page over TCP too, with --http-addr.
func (d *Daemon) serveWeb() (func(), error) {
	if d.cfg.HTTPAddr == "" {
		return nil, nil
	}
	s, err := web.New(web.Config{Addr: d.cfg.HTTPAddr, Source: d.webSource(), Logger: d.log.With("component", "web")})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	d.web.Store(s)
	return func() { d.web.Store(nil); _ = s.Close() }, nil
}

// serveMetrics serves the metrics over TCP too, with --metrics-addr.
func (d *Daemon) serveMetrics() (func(), error) {
	if d.cfg.MetricsAddr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", d.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	return api.Serve(ln, d.metrics, api.MetricsTimeouts, d.log), nil
}
