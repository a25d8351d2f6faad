// Package attach connects containers to the weave bridge: it owns the
// router's attachments, and for each one gets its addresses from the
// allocator, filters its port before it comes up, plugs the veth into
// the bridge and makes its MAC known on the whole network at once.
package attach

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/isolation"
)

// announceWait bounds how long an attach waits for the bridge to forward
// on the new port before it announces the container's MAC.
const announceWait = 2 * time.Second

// Addresses is the address allocator, as attaching needs it.
type Addresses interface {
	Assign(ctx context.Context, key string, cidrs []netip.Prefix, specs []string) (out []netip.Prefix, undo func(), err error)
	Release(key string) []netip.Addr
}

// Ports filters container ports.
type Ports interface {
	SetPort(ctx context.Context, pt isolation.Port) (undo func(), err error)
	RemovePort(ctx context.Context, ifname string) error
}

// Switch is the router's MAC table.
type Switch interface {
	// ClaimMAC makes mac local at once; it reports whether it was on
	// another peer.
	ClaimMAC(mac frame.MAC) bool
	// ForgetMAC drops mac from the table.
	ForgetMAC(mac frame.MAC) bool
}

// Target is a container as attaching needs it.
type Target struct {
	// NetNS is the path of its network namespace (/proc/PID/ns/net of
	// its process), empty when it is not running.
	NetNS string
	// Key is the allocator key of its addresses; they stay the
	// container's across stop and start.
	Key string
	// Name is what status shows for it: the container's name.
	Name string
}

// Resolver finds containers by name or ID.
type Resolver interface {
	// Resolve returns the container spec names, and false if there is
	// none (err is for a container runtime that cannot be asked).
	Resolve(ctx context.Context, spec string) (Target, bool, error)
}

// DefaultSweepInterval is how often a started Service looks for
// attachments whose namespace is gone.
const DefaultSweepInterval = 5 * time.Second

// Config configures a Service.
type Config struct {
	// Bridge is the weave bridge; MTU the overlay MTU every veth gets.
	Bridge string
	MTU    int
	// Addresses, Ports and Switch are required.
	Addresses Addresses
	Ports     Ports
	Switch    Switch
	// Resolver, if set, lets attach and detach name a container where no
	// network namespace of that name exists.
	Resolver Resolver
	// SweepInterval is how often Start's sweep runs; 0 means
	// DefaultSweepInterval.
	SweepInterval time.Duration
	// Names, if set, registers attached containers' names (see dns.go).
	Names Names
	// StateDir, if set, is the directory shared with the CNI plugin:
	// the releases it could not ask for while the router was down, which
	// Start carries out, and the records of the attachments made under a
	// runtime's key, which outlive the router and which Start restores
	// (see keyed.go).
	StateDir string
	Logger   *slog.Logger
}

// entry is one attachment: of a namespace (keyed by its path), or of a
// container by name (keyed by the container's allocator key).
type entry struct {
	api.Attachment
	key string
	// ino is the inode of the namespace at attach time: a path whose
	// inode differs names another namespace, and this one is gone.
	ino uint64
	// container: attached by name; its namespace's end stops the
	// attachment but keeps its addresses.
	container bool
	// cidrs and subnets are what it was attached with, asked again when
	// a container starts again, so that it gets the same addresses.
	cidrs   []netip.Prefix
	subnets []string
	// name is the DNS name it was attached with; noResolvConf says not
	// to write its resolv.conf. Both hold again on a restart.
	name         string
	noResolvConf bool
	// keyed: attached with a key of a container runtime's (see
	// keyed.go), which detaches it; the sweep leaves it alone.
	keyed bool
}

// Service owns the router's attachments. It serves the API's attach and
// detach, and Close detaches every namespace it attached. Attaches and
// detaches of one namespace run one at a time (two concurrent attaches
// would each allocate an address); those of different namespaces run in
// parallel. Once started, it sweeps attachments whose namespace is gone.
type Service struct {
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	attachments map[string]*entry  // by allocator key
	busy        map[string]*nsLock // by allocator key: namespaces being attached or detached
	swept       map[string]swept   // by allocator key: namespaces Sweep released lately

	cancel context.CancelFunc
	done   sync.WaitGroup
	once   sync.Once
}

// nsLock serialises the calls on one namespace; n counts the calls
// holding or waiting for it, so that the last one drops it from busy.
type nsLock struct {
	sync.Mutex
	n int
}

// lockNS waits until no other attach or detach runs on key, and returns
// the unlock.
func (s *Service) lockNS(key string) (unlock func()) {
	s.mu.Lock()
	l := s.busy[key]
	if l == nil {
		l = &nsLock{}
		s.busy[key] = l
	}
	l.n++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		if l.n--; l.n == 0 {
			delete(s.busy, key)
		}
		s.mu.Unlock()
	}
}

// New builds a Service; it does no I/O.
func New(cfg Config) *Service {
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	s := &Service{cfg: cfg, log: cfg.Logger, attachments: map[string]*entry{}, busy: map[string]*nsLock{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Start carries out the pending releases and restores the attachments
// recorded in StateDir (if set), then runs the sweep: every
// SweepInterval, attachments whose namespace is gone are released (see
// Sweep).
func (s *Service) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if s.cfg.StateDir != "" {
		s.startState(ctx)
	}
	s.done.Add(1)
	go s.routineSweep(ctx)
	return nil
}

func (s *Service) routineSweep(ctx context.Context) {
	defer s.done.Done()
	s.log.Debug("sweep: started", "every", s.cfg.SweepInterval)
	defer s.log.Debug("sweep: stopped")
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sweep(ctx)
		}
	}
}

// Close stops the sweep and detaches every namespace attached through
// the Service, but for those attached under a runtime's key when there is
// a StateDir: they stay for the next run. It is idempotent.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			s.done.Wait()
		}
		err = s.detachAll()
	})
	return err
}

func (s *Service) detachAll() error {
	s.mu.Lock()
	all := make([]*entry, 0, len(s.attachments))
	for _, e := range s.attachments {
		all = append(all, e)
	}
	s.attachments = map[string]*entry{}
	s.mu.Unlock()
	var errs []error
	for _, e := range all {
		if e.Stopped || e.keyed && s.cfg.StateDir != "" {
			// A runtime's attachment stays for the next run (keyed.go).
			continue
		}
		unlock := s.lockNS(e.key)
		if err := deleteVeth(e.HostVeth); err != nil {
			errs = append(errs, err)
		}
		s.removeNames(e.key, e.NetNS)
		unlock()
	}
	return errors.Join(errs...)
}

// deleteVeth removes the bridge side of an attachment (and so its pair)
// if it exists.
func deleteVeth(name string) error {
	if name == "" || !host.LinkExists(name) {
		return nil
	}
	return host.DeleteLink(name)
}

// Attachments lists the attachments, sorted by namespace and container.
func (s *Service) Attachments() []api.Attachment {
	s.mu.Lock()
	out := make([]api.Attachment, 0, len(s.attachments))
	for _, e := range s.attachments {
		a := e.Attachment
		a.Addrs = slices.Clone(a.Addrs)
		out = append(out, a)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b api.Attachment) int {
		return cmp.Or(cmp.Compare(a.NetNS, b.NetNS), cmp.Compare(a.Container, b.Container))
	})
	return out
}

// target is what a spec names: a namespace, or a container.
type target struct {
	path, key, name string
	container       bool
	// keyed and ifname: see keyTarget.
	keyed  bool
	ifname string
}

// resolve works out what spec names: a network namespace (a PID, a path
// or a name under /run/netns that exists), else a container the
// Resolver knows by that name or ID. A container that is not running
// has no path.
func (s *Service) resolve(ctx context.Context, spec string) (target, error) {
	path, nsErr := host.NetNSPath(spec)
	if nsErr == nil {
		return target{path: path, key: path}, nil
	}
	// A number is a PID only: a process that is gone must not turn into
	// a container whose ID starts with its digits.
	if s.cfg.Resolver == nil || spec == "" || strings.ContainsRune(spec, '/') || strings.Trim(spec, "0123456789") == "" {
		return target{}, &api.BadRequestError{Err: nsErr}
	}
	t, ok, err := s.cfg.Resolver.Resolve(ctx, spec)
	switch {
	case err != nil:
		return target{}, &api.BadRequestError{Err: fmt.Errorf("%w, and no container could be looked up: %w", nsErr, err)}
	case !ok:
		return target{}, &api.BadRequestError{Err: fmt.Errorf("%w, and no container %q", nsErr, spec)}
	}
	return target{path: t.NetNS, key: t.Key, name: t.Name, container: true}, nil
}

// Attach implements the API's attach: addresses, then the port's rules,
// then the veth; each step is undone if a later one fails.
func (s *Service) Attach(ctx context.Context, req api.AttachRequest) (api.Attachment, error) {
	for _, p := range req.CIDRs {
		if !p.IsValid() || p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen() {
			return api.Attachment{}, &api.BadRequestError{Err: fmt.Errorf("attach: %s is a network address, not a host address", p)}
		}
	}
	if err := s.checkNames(req); err != nil {
		return api.Attachment{}, err
	}
	t, err := s.resolve(ctx, req.NetNS)
	if err != nil {
		return api.Attachment{}, err
	}
	if t.path == "" {
		return api.Attachment{}, &api.BadRequestError{Err: fmt.Errorf("attach: container %s is not running", t.name)}
	}
	if t, err = keyTarget(t, req); err != nil {
		return api.Attachment{}, err
	}
	defer s.lockNS(t.key)()
	return s.attachLocked(ctx, t, req)
}

// attachLocked attaches t, whose lock the caller holds.
func (s *Service) attachLocked(ctx context.Context, t target, req api.AttachRequest) (api.Attachment, error) {
	cidrs, undo, err := s.cfg.Addresses.Assign(ctx, t.key, req.CIDRs, req.Subnets)
	if err != nil {
		return api.Attachment{}, fmt.Errorf("attach: %w", err)
	}
	mac, unisolate, err := s.isolatePort(ctx, t, req, cidrs)
	if err != nil {
		undo()
		return api.Attachment{}, err
	}
	ino, err := host.NetNSInode(t.path)
	if err != nil {
		unisolate()
		undo()
		return api.Attachment{}, err
	}
	a, err := host.AttachNamed(s.cfg.Bridge, t.path, cmp.Or(t.ifname, host.ContainerIfName), cidrs, s.cfg.MTU, mac)
	if err != nil {
		unisolate()
		undo()
		return api.Attachment{}, err
	}
	if err := s.addNames(t.key, t.path, t.name, req, a.Addrs); err != nil {
		_, _ = host.Detach(t.path)
		unisolate()
		undo()
		return api.Attachment{}, err
	}
	s.announce(t.path, cmp.Or(t.ifname, host.ContainerIfName), a)
	out := api.Attachment{NetNS: a.NetNS, HostVeth: a.HostVeth, MAC: a.MAC, Addrs: a.Addrs, Container: t.name}
	e := &entry{Attachment: out, key: t.key, ino: ino, container: t.container, name: req.Name, noResolvConf: req.NoResolvConf, keyed: t.keyed}
	s.mu.Lock()
	prev := s.attachments[t.key]
	if prev != nil {
		e.cidrs, e.subnets = prev.cidrs, prev.subnets
	}
	for _, p := range req.CIDRs {
		if !slices.Contains(e.cidrs, p) {
			e.cidrs = append(e.cidrs, p)
		}
	}
	for _, sub := range req.Subnets {
		if !slices.Contains(e.subnets, sub) {
			e.subnets = append(e.subnets, sub)
		}
	}
	s.attachments[t.key] = e
	delete(s.swept, t.key) // a new namespace under the key
	s.mu.Unlock()
	if t.keyed {
		s.saveKeyed(e)
	}
	if prev != nil && !prev.Stopped && prev.HostVeth != "" && prev.HostVeth != a.HostVeth {
		// The container's earlier namespace ended unnoticed: its port's
		// rules go (its MAC lives on in the new one).
		if err := s.cfg.Ports.RemovePort(ctx, prev.HostVeth); err != nil {
			s.log.Warn("remove isolation rules", "veth", prev.HostVeth, "err", err)
		}
		_ = deleteVeth(prev.HostVeth)
	}
	s.log.Info("attached", "netns", t.path, "container", t.name, "veth", a.HostVeth, "mac", a.MAC, "addrs", a.Addrs)
	return out, nil
}

// Detach implements the API's detach. A namespace that is gone (its
// container died) still gets its addresses released, by the key its
// spec had; if the sweep released them first, the answer is the same.
func (s *Service) Detach(ctx context.Context, req api.DetachRequest) (api.DetachResponse, error) {
	if req.Key != "" {
		return s.detachKey(ctx, req.Key)
	}
	t, err := s.resolve(ctx, req.NetNS)
	if err != nil {
		if freed := s.releaseGone(req.NetNS); len(freed) > 0 {
			return api.DetachResponse{Released: freed}, nil
		}
		return api.DetachResponse{}, err
	}
	defer s.lockNS(t.key)()
	s.mu.Lock()
	was := s.attachments[t.key]
	delete(s.attachments, t.key)
	s.mu.Unlock()
	var ok bool
	switch {
	case t.path != "":
		if ok, err = host.Detach(t.path); err != nil {
			return api.DetachResponse{}, err
		}
	case was != nil && !was.Stopped:
		ok = host.LinkExists(was.HostVeth)
		if err := deleteVeth(was.HostVeth); err != nil {
			return api.DetachResponse{}, err
		}
	}
	freed := s.cfg.Addresses.Release(t.key)
	nsPath := t.path
	if was != nil && was.NetNS != "" {
		nsPath = was.NetNS
	}
	s.removeNames(t.key, nsPath)
	if was != nil && !was.Stopped {
		s.unisolatePort(ctx, was.Attachment)
	}
	s.log.Info("detached", "netns", t.path, "container", t.name, "was_attached", ok, "released", freed)
	return api.DetachResponse{Detached: ok || was != nil && was.Stopped, Released: freed}, nil
}

// ContainerDied stops the attachment of the container with allocator
// key key, whose namespace ended: its veth and port rules go, its MAC and
// addresses stay for its next start. It reports whether the container
// was attached.
func (s *Service) ContainerDied(ctx context.Context, key string) bool {
	defer s.lockNS(key)()
	return s.stopLocked(ctx, key, "container died")
}

func (s *Service) stopLocked(ctx context.Context, key, why string) bool {
	s.mu.Lock()
	e := s.attachments[key]
	if e == nil || e.Stopped {
		s.mu.Unlock()
		return false
	}
	was := e.Attachment
	stopped := *e
	stopped.Stopped, stopped.NetNS, stopped.HostVeth = true, "", ""
	s.attachments[key] = &stopped
	s.mu.Unlock()
	if err := deleteVeth(was.HostVeth); err != nil {
		s.log.Warn("delete veth", "veth", was.HostVeth, "err", err)
	}
	s.unisolatePort(ctx, was)
	s.removeNames(key, was.NetNS)
	s.log.Info(why+": addresses kept for its next start", "container", was.Container, "mac", was.MAC, "addrs", was.Addrs)
	return true
}

// ContainerStarted attaches t again, with the MAC and addresses it had,
// if it was attached by name and is stopped (or runs in a namespace
// other than the one it was attached in). It reports whether t is
// attached by name.
func (s *Service) ContainerStarted(ctx context.Context, t Target) (bool, error) {
	if t.NetNS == "" {
		return false, fmt.Errorf("attach: container %s is not running", t.Name)
	}
	defer s.lockNS(t.Key)()
	s.mu.Lock()
	e := s.attachments[t.Key]
	var req api.AttachRequest
	if e != nil {
		req = api.AttachRequest{NetNS: t.NetNS, CIDRs: slices.Clone(e.cidrs), Subnets: slices.Clone(e.subnets), MAC: e.MAC,
			Name: e.name, NoResolvConf: e.noResolvConf}
	}
	s.mu.Unlock()
	if e == nil || !e.container {
		return false, nil
	}
	if ino, err := host.NetNSInode(t.NetNS); err == nil && !e.Stopped && ino == e.ino {
		return true, nil
	}
	if _, err := s.attachLocked(ctx, target{path: t.NetNS, key: t.Key, name: t.Name, container: true}, req); err != nil {
		return true, err
	}
	return true, nil
}

// ContainerRemoved forgets the container with allocator key key: its
// attachment (veth and rules, if it runs) and its addresses, which it
// returns.
func (s *Service) ContainerRemoved(ctx context.Context, key string) []netip.Addr {
	defer s.lockNS(key)()
	s.mu.Lock()
	e := s.attachments[key]
	delete(s.attachments, key)
	s.mu.Unlock()
	if e != nil && !e.Stopped {
		if err := deleteVeth(e.HostVeth); err != nil {
			s.log.Warn("delete veth", "veth", e.HostVeth, "err", err)
		}
		s.unisolatePort(ctx, e.Attachment)
	}
	if e != nil {
		s.removeNames(key, e.NetNS)
	}
	freed := s.cfg.Addresses.Release(key)
	if e != nil || len(freed) > 0 {
		s.log.Info("container removed: addresses released", "key", key, "container", nameOf(e), "addrs", freed)
	}
	return freed
}

func nameOf(e *entry) string {
	if e == nil {
		return ""
	}
	return e.Container
}

// Sweep finds the attachments whose namespace is gone (its path is
// removed or now names another namespace): one of a namespace is
// released, addresses and rules; one of a container is stopped (see
// ContainerDied). It returns how many it found.
func (s *Service) Sweep(ctx context.Context) int {
	s.mu.Lock()
	var gone []*entry
	for _, e := range s.attachments {
		if !e.Stopped && !e.keyed && host.NetNSGone(e.NetNS, e.ino) {
			gone = append(gone, e)
		}
	}
	s.mu.Unlock()
	n := 0
	for _, g := range gone {
		if s.sweepOne(ctx, g) {
			n++
		}
	}
	return n
}

// sweepOne handles one attachment found gone, unless it changed since.
func (s *Service) sweepOne(ctx context.Context, g *entry) bool {
	defer s.lockNS(g.key)()
	s.mu.Lock()
	e := s.attachments[g.key]
	s.mu.Unlock()
	if e != g || !host.NetNSGone(e.NetNS, e.ino) {
		return false
	}
	if e.container {
		return s.stopLocked(ctx, e.key, "namespace of container gone")
	}
	s.mu.Lock()
	delete(s.attachments, e.key)
	s.mu.Unlock()
	if err := deleteVeth(e.HostVeth); err != nil {
		s.log.Warn("delete veth", "veth", e.HostVeth, "err", err)
	}
	s.unisolatePort(ctx, e.Attachment)
	s.removeNames(e.key, e.NetNS)
	freed := s.cfg.Addresses.Release(e.key)
	s.mu.Lock()
	s.noteSwept(e.key, freed)
	s.mu.Unlock()
	s.log.Info("namespace gone: detached", "netns", e.NetNS, "veth", e.HostVeth, "released", freed)
	return true
}

// swept is what Sweep released for a namespace that went: a detach of
// that namespace soon after gets the same answer as if it had come
// first, not a "not found".
type swept struct {
	addrs []netip.Addr
	at    time.Time
}

// Bounds of Service.swept: entries are kept sweptFor, at most maxSwept.
const (
	sweptFor = 10 * time.Minute
	maxSwept = 1024
)

// noteSwept records what the sweep released for key. Called with s.mu
// held.
func (s *Service) noteSwept(key string, addrs []netip.Addr) {
	now := time.Now()
	for k, v := range s.swept {
		if now.Sub(v.at) > sweptFor || len(s.swept) >= maxSwept {
			delete(s.swept, k)
		}
	}
	if s.swept == nil {
		s.swept = make(map[string]swept)
	}
	s.swept[key] = swept{addrs: addrs, at: now}
}

// releaseGone frees the addresses of a namespace that no longer exists,
// by the key its spec (PID, path or name) had; if the sweep released
// them already, it returns what the sweep released.
func (s *Service) releaseGone(spec string) []netip.Addr {
	key := filepath.Join("/run/netns", spec)
	switch {
	case spec == "":
		return nil
	case strings.Trim(spec, "0123456789") == "":
		key = "/proc/" + spec + "/ns/net"
	case strings.ContainsRune(spec, '/'):
		key = spec
	}
	defer s.lockNS(key)()
	s.mu.Lock()
	e := s.attachments[key]
	delete(s.attachments, key)
	was, wasSwept := s.swept[key]
	delete(s.swept, key)
	s.mu.Unlock()
	if e != nil {
		_ = deleteVeth(e.HostVeth)
		s.unisolatePort(context.Background(), e.Attachment)
	}
	s.removeNames(key, key)
	freed := s.cfg.Addresses.Release(key)
	if len(freed) == 0 && wasSwept && time.Since(was.at) <= sweptFor {
		return was.addrs
	}
	return freed
}

// appSubnet is the application subnet an attached address belongs to:
// the network of its CIDR. The allocator hands out addresses with their
// subnet's prefix length (net:CIDR, app:NAME, the default subnet), and an
// explicit CIDR names its own (10.40.1.5/24 is in 10.40.1.0/24).
func appSubnet(p netip.Prefix) netip.Prefix { return p.Masked() }

// isolatePort installs the rules for a container before its veth exists
// or comes up, so that it never sends a frame unfiltered: the port is
// named after the namespace, the MAC is chosen here (or given, for a
// container moving between hosts). It returns the MAC to attach with and
// an undo that restores the previous rules.
func (s *Service) isolatePort(ctx context.Context, t target, req api.AttachRequest, cidrs []netip.Prefix) (net.HardwareAddr, func(), error) {
	path := t.path
	veth, err := host.HostVethName(path)
	if err != nil {
		return nil, nil, err
	}
	var prev api.Attachment
	s.mu.Lock()
	e, attached := s.attachments[t.key]
	if attached {
		prev = e.Attachment
	}
	s.mu.Unlock()
	if !attached {
		// Attached by an earlier run of this router (it crashed or was
		// killed): keep the MAC and addresses the container has.
		if ha, err := host.Attached(path); err == nil && ha != nil {
			prev, attached = api.Attachment{NetNS: ha.NetNS, HostVeth: ha.HostVeth, MAC: ha.MAC, Addrs: ha.Addrs}, true
		}
	}
	var mac frame.MAC
	switch {
	case req.MAC != "":
		if mac, err = frame.ParseMAC(req.MAC); err != nil {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("attach --mac: %w", err)}
		}
		if mac.IsMulticast() || mac.IsZero() {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("attach --mac: %s is not a unicast MAC", mac)}
		}
		if attached && !strings.EqualFold(prev.MAC, mac.String()) {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("attach: %s is attached with MAC %s, not %s", req.NetNS, prev.MAC, mac)}
		}
	case attached:
		if mac, err = frame.ParseMAC(prev.MAC); err != nil {
			return nil, nil, err
		}
	default:
		_, _ = rand.Read(mac[:])
		mac[0] = mac[0]&0xfe | 0x02 // unicast, locally administered
	}
	addrs := slices.Clone(cidrs)
	if attached {
		addrs = append(addrs, prev.Addrs...)
	}
	pt := isolation.Port{Ifname: veth, MAC: mac}
	for _, p := range addrs {
		if !slices.Contains(pt.Addrs, p.Addr()) {
			pt.Addrs = append(pt.Addrs, p.Addr())
		}
		if sub := appSubnet(p); !slices.Contains(pt.Subnets, sub) {
			pt.Subnets = append(pt.Subnets, sub)
		}
	}
	undo, err := s.cfg.Ports.SetPort(ctx, pt)
	if err != nil {
		return nil, nil, err
	}
	return net.HardwareAddr(mac[:]), undo, nil
}

// announce makes an attached container's MAC live here, at once, on the
// whole network: the switch claims it (no echo window for a MAC that was
// on another peer a moment ago), and a gratuitous ARP from the container
// teaches every bridge and switch where it is now.
func (s *Service) announce(path, ifname string, a *host.Attachment) {
	if mac, err := frame.ParseMAC(a.MAC); err == nil {
		if s.cfg.Switch.ClaimMAC(mac) {
			s.log.Info("MAC moved here from another peer", "mac", a.MAC)
		}
	}
	var addrs []netip.Addr
	for _, p := range a.Addrs {
		addrs = append(addrs, p.Addr())
	}
	if _, err := host.AnnounceOn(path, ifname, addrs, announceWait); err != nil {
		s.log.Warn("gratuitous ARP", "netns", path, "err", err)
	}
}

// unisolatePort removes a detached container's rules and forgets its MAC
// in the switch.
func (s *Service) unisolatePort(ctx context.Context, was api.Attachment) {
	veth := was.HostVeth
	if veth == "" {
		return
	}
	if err := s.cfg.Ports.RemovePort(ctx, veth); err != nil {
		s.log.Warn("remove isolation rules", "veth", veth, "err", err)
	}
	if mac, err := frame.ParseMAC(was.MAC); err == nil {
		s.cfg.Switch.ForgetMAC(mac)
	}
}
