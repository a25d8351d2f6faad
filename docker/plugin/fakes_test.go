package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
)

// fakeAddrs is an allocator of the range 10.32.0.0/12 that hands out the
// lowest free address of a subnet.
type fakeAddrs struct {
	mu   sync.Mutex
	keys map[string][]netip.Prefix
}

var (
	testRange   = netip.MustParsePrefix("10.32.0.0/12")
	testDefault = netip.MustParsePrefix("10.32.0.0/13")
)

func newFakeAddrs() *fakeAddrs { return &fakeAddrs{keys: map[string][]netip.Prefix{}} }

func (f *fakeAddrs) ownerLocked(a netip.Addr) string {
	for k, ps := range f.keys {
		for _, p := range ps {
			if p.Addr() == a {
				return k
			}
		}
	}
	return ""
}

func (f *fakeAddrs) Holder(a netip.Addr) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := f.ownerLocked(a)
	return k, k != ""
}

func (f *fakeAddrs) Assign(_ context.Context, key string, cidrs []netip.Prefix, specs []string) ([]netip.Prefix, func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	had := len(f.keys[key]) > 0
	undo := func() {
		if !had {
			f.mu.Lock()
			delete(f.keys, key)
			f.mu.Unlock()
		}
	}
	var out []netip.Prefix
	for _, p := range cidrs {
		if o := f.ownerLocked(p.Addr()); o != "" && o != key {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("%s: %w", p.Addr(), alloc.ErrInUse)}
		}
		if !slices.Contains(f.keys[key], p) {
			f.keys[key] = append(f.keys[key], p)
		}
		out = append(out, p)
	}
	if len(specs) == 0 && len(cidrs) == 0 {
		specs = []string{"net:default"}
	}
	for _, spec := range specs {
		sub, err := alloc.ParseSubnet(testRange, testDefault, spec)
		if err != nil {
			return nil, nil, &api.BadRequestError{Err: err}
		}
		found := false
		for _, p := range f.keys[key] {
			if sub.Contains(p.Addr()) {
				out, found = append(out, p), true
			}
		}
		if found {
			continue
		}
		for a := sub.Addr().Next(); sub.Contains(a); a = a.Next() {
			if f.ownerLocked(a) == "" {
				p := netip.PrefixFrom(a, sub.Bits())
				f.keys[key] = append(f.keys[key], p)
				out = append(out, p)
				break
			}
		}
	}
	return out, undo, nil
}

func (f *fakeAddrs) Release(key string) []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []netip.Addr
	for _, p := range f.keys[key] {
		out = append(out, p.Addr())
	}
	delete(f.keys, key)
	return out
}

func (f *fakeAddrs) Status() *api.IPAMStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &api.IPAMStatus{Range: testRange.String(), DefaultSubnet: testDefault.String()}
	for k, ps := range f.keys {
		var as []netip.Addr
		for _, p := range ps {
			as = append(as, p.Addr())
		}
		st.Allocations = append(st.Allocations, api.IPAMAllocation{Key: k, Addrs: as})
	}
	return st
}

// fakeHost exposes addresses through a fakeAddrs, as isolation.Service.
type fakeHost struct {
	addrs   *fakeAddrs
	mu      sync.Mutex
	exposed map[netip.Prefix]string // addr -> allocator key
	masq    map[netip.Prefix]bool
}

func newFakeHost(a *fakeAddrs) *fakeHost {
	return &fakeHost{addrs: a, exposed: map[netip.Prefix]string{}, masq: map[netip.Prefix]bool{}}
}

func (h *fakeHost) Expose(ctx context.Context, req api.ExposeRequest) (api.ExposeResponse, error) {
	var out []netip.Prefix
	if len(req.CIDRs) == 0 && len(req.Subnets) == 0 {
		req.Subnets = []string{"net:default"}
	}
	for _, p := range req.CIDRs {
		got, _, err := h.addrs.Assign(ctx, "weave:expose "+p.Addr().String(), []netip.Prefix{p}, nil)
		if err != nil {
			return api.ExposeResponse{}, err
		}
		out = append(out, got...)
		h.record(got[0], "weave:expose "+p.Addr().String(), req.Masquerade)
	}
	for _, sp := range req.Subnets {
		got, _, err := h.addrs.Assign(ctx, "weave:expose "+sp, nil, []string{sp})
		if err != nil {
			return api.ExposeResponse{}, err
		}
		out = append(out, got...)
		h.record(got[0], "weave:expose "+sp, req.Masquerade)
	}
	return api.ExposeResponse{Addrs: out}, nil
}

func (h *fakeHost) record(p netip.Prefix, key string, masq bool) {
	h.mu.Lock()
	h.exposed[p], h.masq[p] = key, masq
	h.mu.Unlock()
}

func (h *fakeHost) Hide(_ context.Context, req api.ExposeRequest) (api.ExposeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range req.CIDRs {
		k, ok := h.exposed[p]
		if !ok {
			return api.ExposeResponse{}, &api.BadRequestError{Err: fmt.Errorf("hide: %s is not exposed", p)}
		}
		delete(h.exposed, p)
		h.addrs.Release(k)
	}
	return api.ExposeResponse{Addrs: req.CIDRs}, nil
}

func (h *fakeHost) Status(bool) *api.HostStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &api.HostStatus{}
	for p := range h.exposed {
		st.Exposed = append(st.Exposed, api.ExposedAddr{Addr: p, Masquerade: h.masq[p]})
	}
	return st
}

// fakeEndpoints records endpoints; gone lists those RestoreEndpoint
// finds gone.
type fakeEndpoints struct {
	mu       sync.Mutex
	eps      map[string]attach.Endpoint
	restored []string
	added    []string
	gone     map[string]bool
}

func newFakeEndpoints() *fakeEndpoints {
	return &fakeEndpoints{eps: map[string]attach.Endpoint{}, gone: map[string]bool{}}
}

func (f *fakeEndpoints) CreateEndpoint(_ context.Context, req attach.EndpointRequest) (attach.Endpoint, error) {
	hv, cv, err := attach.EndpointNames(req.ID)
	if err != nil {
		return attach.Endpoint{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.eps[req.ID]; ok {
		return attach.Endpoint{}, errors.New("endpoint exists")
	}
	mac := req.MAC
	if mac == "" {
		mac = "02:00:00:00:00:01"
	}
	ep := attach.Endpoint{ID: req.ID, HostVeth: hv, ContainerVeth: cv, MAC: mac, Addrs: req.Addrs, Subnets: req.Subnets}
	f.eps[req.ID] = ep
	return ep, nil
}

func (f *fakeEndpoints) RestoreEndpoint(_ context.Context, ep attach.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone[ep.ID] {
		return attach.ErrEndpointGone
	}
	f.eps[ep.ID] = ep
	f.restored = append(f.restored, ep.ID)
	return nil
}

func (f *fakeEndpoints) AddEndpointAddrs(ep attach.Endpoint, nsPath string, addrs []netip.Prefix, _ <-chan struct{}) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.added = append(f.added, fmt.Sprint(ep.ID, " ", nsPath, " ", addrs))
	return nil
}

func (f *fakeEndpoints) DeleteEndpoint(_ context.Context, ep attach.Endpoint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.eps, ep.ID)
	return nil
}

// fakeFirewall counts the bridges with rules.
type fakeFirewall struct {
	mu    sync.Mutex
	rules map[string]bool
}

func (f *fakeFirewall) Allow(br string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rules == nil {
		f.rules = map[string]bool{}
	}
	f.rules[br] = true
	return nil
}

func (f *fakeFirewall) Remove(br string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rules, br)
	return nil
}
