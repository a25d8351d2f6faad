package isolation

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/host"
)

// The Service serves the host integration part of the API.
var _ api.HostBackend = (*Service)(nil)

func badRequest(format string, a ...any) error {
	return &api.BadRequestError{Err: fmt.Errorf(format, a...)}
}

// exposeKey is the allocator key of an exposed address: one per explicit
// address or subnet spec, so that hide releases exactly what it removes
// and a re-expose after a restart gets the same address back.
func exposeKey(spec string) string { return "weave:expose " + spec }

// Expose implements api.HostBackend.Expose: it gives the bridge (so the
// host) each address, which makes the host a member of that address's
// application subnet on every host of the network, and records whether
// the subnet is masqueraded to the outside world. Explicit CIDRs are
// claimed in the allocator, net:CIDR and app:NAME (net:default without
// any) are allocated.
func (s *Service) Expose(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error) {
	for _, p := range req.CIDRs {
		if !p.IsValid() || p.Addr() == p.Masked().Addr() && p.Bits() < p.Addr().BitLen() {
			return api.ExposeResponse{}, badRequest("expose: %s is a network address, not a host address", p)
		}
	}
	specs := req.Subnets
	if len(specs) == 0 && len(req.CIDRs) == 0 {
		specs = []string{"net:default"}
	}
	type want struct {
		p   netip.Prefix
		key string
	}
	var wants []want
	var undos []func()
	release := func() {
		for _, u := range undos {
			u()
		}
	}
	for _, p := range req.CIDRs {
		wants = append(wants, want{p, exposeKey(p.Addr().String())})
	}
	for _, sp := range specs {
		wants = append(wants, want{key: exposeKey(sp)})
	}
	for i, w := range wants {
		var cidrs, subnets = []netip.Prefix(nil), []string{strings.TrimPrefix(w.key, exposeKey(""))}
		if w.p.IsValid() {
			cidrs, subnets = []netip.Prefix{w.p}, nil
		}
		got, undo, err := s.cfg.Addresses.Assign(ctx, w.key, cidrs, subnets)
		if err != nil {
			release()
			return api.ExposeResponse{}, fmt.Errorf("expose: %w", err)
		}
		undos = append(undos, undo)
		wants[i].p = got[0]
		if req.Masquerade && !got[0].Addr().Is4() {
			release()
			return api.ExposeResponse{}, badRequest("expose: --masquerade is IPv4 only (%s)", got[0])
		}
	}
	var added, out []netip.Prefix
	err := s.change(ctx, func() error {
		for _, w := range wants {
			out = append(out, w.p)
			i := slices.IndexFunc(s.exposed, func(e Exposed) bool { return e.Addr == w.p })
			if i < 0 {
				s.exposed = append(s.exposed, Exposed{Addr: w.p, Masquerade: req.Masquerade})
			} else {
				s.exposed[i].Masquerade = req.Masquerade
			}
			s.exposeKeys[w.p] = w.key
			if err := host.AddBridgeAddr(s.cfg.Bridge, w.p); err != nil {
				return err
			}
			added = append(added, w.p)
		}
		return nil
	})
	if err != nil {
		for _, a := range added {
			_ = host.DelBridgeAddr(s.cfg.Bridge, a)
		}
		release()
		return api.ExposeResponse{}, fmt.Errorf("expose: %w", err)
	}
	s.log.Info("exposed", "addrs", out, "masquerade", req.Masquerade)
	return api.ExposeResponse{Addrs: out}, nil
}

// Hide implements api.HostBackend.Hide: it removes exposed addresses (all
// of them when the request names none), releases them in the allocator,
// and drops the forwardings that depended on them. A CIDR names an
// exposed address; a subnet spec ("net:CIDR", "app:NAME", "net:default")
// names the address that Expose allocated for the same spec.
func (s *Service) Hide(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error) {
	var removed []netip.Prefix
	var keys []string
	err := s.change(ctx, func() error {
		all := len(req.CIDRs) == 0 && len(req.Subnets) == 0
		named := func(e Exposed) bool {
			return all || slices.Contains(req.CIDRs, e.Addr) ||
				slices.ContainsFunc(req.Subnets, func(sp string) bool { return s.exposeKeys[e.Addr] == exposeKey(sp) })
		}
		keep := s.exposed[:0:0]
		for _, e := range s.exposed {
			if named(e) {
				removed = append(removed, e.Addr)
			} else {
				keep = append(keep, e)
			}
		}
		for _, p := range req.CIDRs {
			if !slices.Contains(removed, p) {
				return badRequest("hide: %s is not exposed", p)
			}
		}
		for _, sp := range req.Subnets {
			if !slices.ContainsFunc(removed, func(p netip.Prefix) bool { return s.exposeKeys[p] == exposeKey(sp) }) {
				return badRequest("hide: nothing is exposed for %s (see 'status isolation')", sp)
			}
		}
		s.exposed = keep
		for _, p := range removed {
			if k, ok := s.exposeKeys[p]; ok {
				keys = append(keys, k)
				delete(s.exposeKeys, p)
			}
		}
		// Forwardings that only worked through a hidden address go too.
		s.forwards = slices.DeleteFunc(s.forwards, func(f Forward) bool { return s.forwardNeedLocked(f) != nil })
		return nil
	})
	if err != nil {
		return api.ExposeResponse{}, err
	}
	for _, k := range keys {
		s.cfg.Addresses.Release(k)
	}
	for _, p := range removed {
		if err := host.DelBridgeAddr(s.cfg.Bridge, p); err != nil {
			return api.ExposeResponse{Addrs: removed}, fmt.Errorf("hide: %w", err)
		}
	}
	s.log.Info("hidden", "addrs", removed)
	return api.ExposeResponse{Addrs: removed}, nil
}

// Allow implements api.HostBackend.Allow. The pair opens both ways on
// every router: it is gossiped to the whole mesh (and kept across
// restarts), and each router lets it through to its containers.
func (s *Service) Allow(ctx context.Context, req api.PairRequest) error {
	if !req.A.IsValid() || !req.B.IsValid() || req.A.Addr().Is4() != req.B.Addr().Is4() {
		return badRequest("allow: want two IPv4 or two IPv6 subnets, got %s and %s", req.A, req.B)
	}
	pr := NewPair(req.A, req.B)
	if !s.cfg.Isolate {
		return badRequest("allow: isolation is off (--no-isolation): everything is allowed")
	}
	if _, err := s.pairs.Set(pr, true); err != nil {
		return badRequest("allow: %w", err)
	}
	if err := s.change(ctx, func() error { return nil }); err != nil {
		return err
	}
	s.savePairs()
	s.log.Info("allowed", "pair", pr.String())
	return nil
}

// Deny implements api.HostBackend.Deny: it withdraws an allowed pair on
// every router (a pair this router has from its own Allow stays open
// here).
func (s *Service) Deny(ctx context.Context, req api.PairRequest) (api.DenyResponse, error) {
	if !req.A.IsValid() || !req.B.IsValid() || req.A.Addr().Is4() != req.B.Addr().Is4() {
		return api.DenyResponse{}, badRequest("deny: want two IPv4 or two IPv6 subnets")
	}
	pr := NewPair(req.A, req.B)
	if slices.Contains(s.cfg.Allow, pr) {
		return api.DenyResponse{}, badRequest("deny: %s is allowed by --allow on this router (restart it without)", pr)
	}
	removed, err := s.pairs.Set(pr, false)
	if err != nil {
		return api.DenyResponse{}, badRequest("deny: %w", err)
	}
	if err := s.change(ctx, func() error { return nil }); err != nil {
		return api.DenyResponse{}, err
	}
	s.savePairs()
	if removed {
		s.log.Info("denied", "pair", pr.String())
	}
	return api.DenyResponse{Removed: removed}, nil
}

func toForward(s api.Service) Forward {
	proto := s.Proto
	if proto == "" {
		proto = "tcp"
	}
	return Forward{Kind: Kind(s.Kind), Proto: proto, Listen: s.Listen, Target: s.Target}
}

// forwardNeedLocked says what is missing for f to work: a publish
// forwards to a container through the host's address in its subnet (the
// masqueraded source the container answers and its isolation accepts),
// an import listens on an exposed address. s.mu is held.
func (s *Service) forwardNeedLocked(f Forward) error {
	switch f.Kind {
	case Publish:
		if !slices.ContainsFunc(s.exposed, func(e Exposed) bool { return e.Addr.Masked().Contains(f.Target.Addr()) }) {
			return fmt.Errorf("the host has no exposed address in the subnet of %s: run 'weave-switch expose' with one first", f.Target.Addr())
		}
	case Import:
		if !slices.ContainsFunc(s.exposed, func(e Exposed) bool { return e.Addr.Addr() == f.Listen.Addr() }) {
			return fmt.Errorf("%s is not an exposed address of this host: import listens on one ('weave-switch expose' it first)", f.Listen.Addr())
		}
	}
	return nil
}

// AddService implements api.HostBackend.AddService: publish (host port
// to a container anywhere on the network) or import (a port on an
// exposed address to a service outside).
func (s *Service) AddService(ctx context.Context, req api.Service) error {
	f := toForward(req)
	if err := f.Validate(); err != nil {
		return badRequest("%s: %w", f.Kind, err)
	}
	err := s.change(ctx, func() error {
		if err := s.forwardNeedLocked(f); err != nil {
			return &api.BadRequestError{Err: err}
		}
		if slices.ContainsFunc(s.forwards, func(o Forward) bool { return o.Key() == f.Key() }) {
			return badRequest("%s %s %s is already forwarded", f.Kind, f.Proto, f.Listen)
		}
		s.forwards = append(s.forwards, f)
		return nil
	})
	if err != nil {
		if errors.As(err, new(*api.BadRequestError)) {
			return err
		}
		return fmt.Errorf("%s: %w", f.Kind, err)
	}
	s.log.Info("forwarding added", "forward", f.String())
	return nil
}

// RemoveService implements api.HostBackend.RemoveService.
func (s *Service) RemoveService(ctx context.Context, req api.Service) (api.RemoveServiceResponse, error) {
	f := toForward(req)
	removed := false
	err := s.change(ctx, func() error {
		n := len(s.forwards)
		s.forwards = slices.DeleteFunc(s.forwards, func(o Forward) bool { return o.Key() == f.Key() })
		removed = len(s.forwards) != n
		return nil
	})
	if err == nil && removed {
		s.log.Info("forwarding removed", "kind", f.Kind, "proto", f.Proto, "listen", f.Listen)
	}
	return api.RemoveServiceResponse{Removed: removed}, err
}

// HostStatus implements api.HostBackend.HostStatus, with fresh drop
// counters.
func (s *Service) HostStatus() api.HostStatus { return *s.Status(true) }

// Status reports the host side; with drops, it also reads the drop
// counters from nft (a fork: only for `status isolation`, not for every
// status poll).
func (s *Service) Status(drops bool) *api.HostStatus {
	s.mu.Lock()
	st := &api.HostStatus{Isolation: s.cfg.Isolate, Forwarding: s.fwdPrev != "", Allowed: []string{}, Exposed: []api.ExposedAddr{}, Services: []api.Service{}}
	for _, pr := range s.applied {
		st.Allowed = append(st.Allowed, pr.String())
	}
	for _, e := range s.exposed {
		st.Exposed = append(st.Exposed, api.ExposedAddr{Addr: e.Addr, Masquerade: e.Masquerade})
	}
	for _, f := range s.forwards {
		st.Services = append(st.Services, api.Service{Kind: string(f.Kind), Proto: f.Proto, Listen: f.Listen, Target: f.Target})
	}
	s.mu.Unlock()
	if s.cfg.Isolate && drops {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := s.cfg.NFT.Drops(ctx, s.cfg.Bridge)
		if err != nil {
			s.log.Warn("read isolation drop counters", "err", err)
		}
		st.Drops = map[string]api.Drop{}
		for k, c := range v {
			st.Drops[k] = api.Drop(c)
		}
	}
	return st
}
