package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/isolation"
)

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
func (d *Daemon) Expose(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error) {
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
		r := api.AttachRequest{Subnets: []string{strings.TrimPrefix(w.key, exposeKey(""))}}
		if w.p.IsValid() {
			r = api.AttachRequest{CIDRs: []netip.Prefix{w.p}}
		}
		cidrs, undo, err := d.ipamAddresses(ctx, w.key, r)
		if err != nil {
			release()
			return api.ExposeResponse{}, err
		}
		undos = append(undos, undo)
		wants[i].p = cidrs[0]
		if req.Masquerade && !cidrs[0].Addr().Is4() {
			release()
			return api.ExposeResponse{}, badRequest("expose: --masquerade is IPv4 only (%s)", cidrs[0])
		}
	}
	h := d.hs
	var added, out []netip.Prefix
	err := h.change(ctx, func() error {
		for _, w := range wants {
			out = append(out, w.p)
			i := slices.IndexFunc(h.exposed, func(e isolation.Exposed) bool { return e.Addr == w.p })
			if i < 0 {
				h.exposed = append(h.exposed, isolation.Exposed{Addr: w.p, Masquerade: req.Masquerade})
			} else {
				h.exposed[i].Masquerade = req.Masquerade
			}
			h.exposeKeys[w.p] = w.key
			if err := host.AddBridgeAddr(h.bridge, w.p); err != nil {
				return err
			}
			added = append(added, w.p)
		}
		return nil
	})
	if err != nil {
		for _, a := range added {
			_ = host.DelBridgeAddr(h.bridge, a)
		}
		release()
		return api.ExposeResponse{}, fmt.Errorf("expose: %w", err)
	}
	d.log.Info("exposed", "addrs", out, "masquerade", req.Masquerade)
	return api.ExposeResponse{Addrs: out}, nil
}

// Hide implements api.HostBackend.Hide: it removes exposed addresses (all
// of them when none is given), releases them in the allocator, and drops
// the services that depended on them.
func (d *Daemon) Hide(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error) {
	if len(req.Subnets) > 0 {
		return api.ExposeResponse{}, badRequest("hide: give the exposed addresses (see 'status isolation'), not subnets")
	}
	h := d.hs
	var removed []netip.Prefix
	var keys []string
	err := h.change(ctx, func() error {
		keep := h.exposed[:0:0]
		for _, e := range h.exposed {
			if len(req.CIDRs) == 0 || slices.Contains(req.CIDRs, e.Addr) {
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
		h.exposed = keep
		for _, p := range removed {
			if k, ok := h.exposeKeys[p]; ok {
				keys = append(keys, k)
				delete(h.exposeKeys, p)
			}
		}
		// Services that only worked through a hidden address go too.
		h.services = slices.DeleteFunc(h.services, func(s isolation.Service) bool { return h.serviceNeedLocked(s) != nil })
		return nil
	})
	if err != nil {
		return api.ExposeResponse{}, err
	}
	for _, k := range keys {
		d.ipamRelease(k)
	}
	for _, p := range removed {
		if err := host.DelBridgeAddr(h.bridge, p); err != nil {
			return api.ExposeResponse{Addrs: removed}, fmt.Errorf("hide: %w", err)
		}
	}
	d.log.Info("hidden", "addrs", removed)
	return api.ExposeResponse{Addrs: removed}, nil
}

// Allow implements api.HostBackend.Allow. The pair opens both ways on
// every router: it is gossiped to the whole mesh (and kept across
// restarts), and each router lets it through to its containers.
func (d *Daemon) Allow(ctx context.Context, req api.PairRequest) error {
	if !req.A.IsValid() || !req.B.IsValid() || req.A.Addr().Is4() != req.B.Addr().Is4() {
		return badRequest("allow: want two IPv4 or two IPv6 subnets, got %s and %s", req.A, req.B)
	}
	pr := isolation.NewPair(req.A, req.B)
	h := d.hs
	if !h.isolate {
		return badRequest("allow: isolation is off (--no-isolation): everything is allowed")
	}
	if _, err := h.pairs.Set(pr, true); err != nil {
		return badRequest("allow: %w", err)
	}
	if err := h.change(ctx, func() error { return nil }); err != nil {
		return err
	}
	h.savePairs()
	d.log.Info("allowed", "pair", pr.String())
	return nil
}

// Deny implements api.HostBackend.Deny: it withdraws an allowed pair on
// every router (a pair this router has from --allow stays open here).
func (d *Daemon) Deny(ctx context.Context, req api.PairRequest) (api.DenyResponse, error) {
	if !req.A.IsValid() || !req.B.IsValid() || req.A.Addr().Is4() != req.B.Addr().Is4() {
		return api.DenyResponse{}, badRequest("deny: want two IPv4 or two IPv6 subnets")
	}
	pr := isolation.NewPair(req.A, req.B)
	h := d.hs
	h.mu.Lock()
	static := slices.Contains(h.allow, pr)
	h.mu.Unlock()
	if static {
		return api.DenyResponse{}, badRequest("deny: %s is allowed by --allow on this router (restart it without)", pr)
	}
	removed, err := h.pairs.Set(pr, false)
	if err != nil {
		return api.DenyResponse{}, badRequest("deny: %w", err)
	}
	if err := h.change(ctx, func() error { return nil }); err != nil {
		return api.DenyResponse{}, err
	}
	h.savePairs()
	if removed {
		d.log.Info("denied", "pair", pr.String())
	}
	return api.DenyResponse{Removed: removed}, nil
}

func toService(s api.Service) isolation.Service {
	proto := s.Proto
	if proto == "" {
		proto = "tcp"
	}
	return isolation.Service{Kind: isolation.Kind(s.Kind), Proto: proto, Listen: s.Listen, Target: s.Target}
}

// serviceNeedLocked says what is missing for s to work: a publish
// forwards to a container through the host's address in its subnet (the
// masqueraded source the container answers and its isolation accepts),
// an import listens on an exposed address. h.mu is held.
func (h *hostSide) serviceNeedLocked(s isolation.Service) error {
	switch s.Kind {
	case isolation.Publish:
		if !slices.ContainsFunc(h.exposed, func(e isolation.Exposed) bool { return e.Addr.Masked().Contains(s.Target.Addr()) }) {
			return fmt.Errorf("the host has no exposed address in the subnet of %s: run 'weave-switch expose' with one first", s.Target.Addr())
		}
	case isolation.Import:
		if !slices.ContainsFunc(h.exposed, func(e isolation.Exposed) bool { return e.Addr.Addr() == s.Listen.Addr() }) {
			return fmt.Errorf("%s is not an exposed address of this host: import listens on one ('weave-switch expose' it first)", s.Listen.Addr())
		}
	}
	return nil
}

// AddService implements api.HostBackend.AddService: publish (host port to
// a container anywhere on the network) or import (a port on an exposed
// address to a service outside).
func (d *Daemon) AddService(ctx context.Context, req api.Service) error {
	s := toService(req)
	if err := s.Validate(); err != nil {
		return badRequest("%s: %w", s.Kind, err)
	}
	h := d.hs
	err := h.change(ctx, func() error {
		if err := h.serviceNeedLocked(s); err != nil {
			return &api.BadRequestError{Err: err}
		}
		if slices.ContainsFunc(h.services, func(o isolation.Service) bool { return o.Key() == s.Key() }) {
			return badRequest("%s %s %s is already forwarded", s.Kind, s.Proto, s.Listen)
		}
		h.services = append(h.services, s)
		return nil
	})
	if err != nil {
		var bad *api.BadRequestError
		if errors.As(err, &bad) {
			return err
		}
		return fmt.Errorf("%s: %w", s.Kind, err)
	}
	d.log.Info("service added", "service", s.String())
	return nil
}

// RemoveService implements api.HostBackend.RemoveService.
func (d *Daemon) RemoveService(ctx context.Context, req api.Service) (api.RemoveServiceResponse, error) {
	s := toService(req)
	h := d.hs
	removed := false
	err := h.change(ctx, func() error {
		n := len(h.services)
		h.services = slices.DeleteFunc(h.services, func(o isolation.Service) bool { return o.Key() == s.Key() })
		removed = len(h.services) != n
		return nil
	})
	if err == nil && removed {
		d.log.Info("service removed", "kind", s.Kind, "proto", s.Proto, "listen", s.Listen)
	}
	return api.RemoveServiceResponse{Removed: removed}, err
}
