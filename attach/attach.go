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

// Config configures a Service.
type Config struct {
	// Bridge is the weave bridge; MTU the overlay MTU every veth gets.
	Bridge string
	MTU    int
	// Addresses, Ports and Switch are required.
	Addresses Addresses
	Ports     Ports
	Switch    Switch
	// Names, if set, registers attached containers' names (see dns.go).
	Names  Names
	Logger *slog.Logger
}

// Service owns the router's attachments. It serves the API's attach and
// detach, and Close detaches every namespace it attached. Attaches and
// detaches of one namespace run one at a time (two concurrent attaches
// would each allocate an address); those of different namespaces run in
// parallel.
type Service struct {
	cfg Config
	log *slog.Logger

	mu          sync.Mutex
	attachments map[string]api.Attachment // by namespace path
	busy        map[string]*nsLock        // by allocator key: namespaces being attached or detached
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
	s := &Service{cfg: cfg, log: cfg.Logger, attachments: map[string]api.Attachment{}, busy: map[string]*nsLock{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Close detaches every namespace attached through the Service. It is
// idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	paths := make([]string, 0, len(s.attachments))
	for ns := range s.attachments {
		paths = append(paths, ns)
	}
	s.attachments = map[string]api.Attachment{}
	s.mu.Unlock()
	var errs []error
	for _, ns := range paths {
		unlock := s.lockNS(ns)
		if _, err := host.Detach(ns); err != nil {
			errs = append(errs, err)
		}
		s.removeNames(ns)
		unlock()
	}
	return errors.Join(errs...)
}

// Attachments lists the attached namespaces, sorted.
func (s *Service) Attachments() []api.Attachment {
	s.mu.Lock()
	out := make([]api.Attachment, 0, len(s.attachments))
	for _, a := range s.attachments {
		out = append(out, a)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b api.Attachment) int { return cmp.Compare(a.NetNS, b.NetNS) })
	return out
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
	path, err := host.NetNSPath(req.NetNS)
	if err != nil {
		return api.Attachment{}, &api.BadRequestError{Err: err}
	}
	defer s.lockNS(path)()
	cidrs, undo, err := s.cfg.Addresses.Assign(ctx, path, req.CIDRs, req.Subnets)
	if err != nil {
		return api.Attachment{}, fmt.Errorf("attach: %w", err)
	}
	mac, unisolate, err := s.isolatePort(ctx, path, req, cidrs)
	if err != nil {
		undo()
		return api.Attachment{}, err
	}
	a, err := host.AttachWithMAC(s.cfg.Bridge, path, cidrs, s.cfg.MTU, mac)
	if err != nil {
		unisolate()
		undo()
		return api.Attachment{}, err
	}
	if err := s.addNames(path, req, a.Addrs); err != nil {
		_, _ = host.Detach(path)
		unisolate()
		undo()
		return api.Attachment{}, err
	}
	s.announce(path, a)
	out := api.Attachment{NetNS: a.NetNS, HostVeth: a.HostVeth, MAC: a.MAC, Addrs: a.Addrs}
	s.mu.Lock()
	s.attachments[path] = out
	s.mu.Unlock()
	s.log.Info("attached", "netns", path, "veth", a.HostVeth, "mac", a.MAC, "addrs", a.Addrs)
	return out, nil
}

// Detach implements the API's detach. A namespace that is gone (its
// container died) still gets its addresses released, by the key its
// spec had.
func (s *Service) Detach(ctx context.Context, req api.DetachRequest) (api.DetachResponse, error) {
	path, err := host.NetNSPath(req.NetNS)
	if err != nil {
		if freed := s.releaseGone(req.NetNS); len(freed) > 0 {
			return api.DetachResponse{Released: freed}, nil
		}
		return api.DetachResponse{}, &api.BadRequestError{Err: err}
	}
	defer s.lockNS(path)()
	ok, err := host.Detach(path)
	if err != nil {
		return api.DetachResponse{}, err
	}
	s.mu.Lock()
	was, attached := s.attachments[path]
	delete(s.attachments, path)
	s.mu.Unlock()
	freed := s.cfg.Addresses.Release(path)
	s.removeNames(path)
	if attached {
		s.unisolatePort(ctx, path, was)
	}
	s.log.Info("detached", "netns", path, "was_attached", ok)
	return api.DetachResponse{Detached: ok, Released: freed}, nil
}

// releaseGone frees the addresses of a namespace that no longer exists,
// by the key its spec (PID, path or name) had.
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
	s.removeNames(key)
	return s.cfg.Addresses.Release(key)
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
func (s *Service) isolatePort(ctx context.Context, path string, req api.AttachRequest, cidrs []netip.Prefix) (net.HardwareAddr, func(), error) {
	veth, err := host.HostVethName(path)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	prev, attached := s.attachments[path]
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
func (s *Service) announce(path string, a *host.Attachment) {
	if mac, err := frame.ParseMAC(a.MAC); err == nil {
		if s.cfg.Switch.ClaimMAC(mac) {
			s.log.Info("MAC moved here from another peer", "mac", a.MAC)
		}
	}
	var addrs []netip.Addr
	for _, p := range a.Addrs {
		addrs = append(addrs, p.Addr())
	}
	if _, err := host.Announce(path, addrs, announceWait); err != nil {
		s.log.Warn("gratuitous ARP", "netns", path, "err", err)
	}
}

// unisolatePort removes a detached container's rules and forgets its MAC
// in the switch.
func (s *Service) unisolatePort(ctx context.Context, path string, was api.Attachment) {
	veth, err := host.HostVethName(path)
	if err != nil {
		veth = was.HostVeth
	}
	if err := s.cfg.Ports.RemovePort(ctx, veth); err != nil {
		s.log.Warn("remove isolation rules", "veth", veth, "err", err)
	}
	if mac, err := frame.ParseMAC(was.MAC); err == nil {
		s.cfg.Switch.ForgetMAC(mac)
	}
}
