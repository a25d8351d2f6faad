package api

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// fakeHost is a Backend that also implements HostBackend, recording what
// reached it.
type fakeHost struct {
	fakeBackend
	exposed  []ExposeRequest
	pairs    []PairRequest
	services []Service
}

func (f *fakeHost) Expose(_ context.Context, r ExposeRequest) (ExposeResponse, error) {
	f.exposed = append(f.exposed, r)
	return ExposeResponse{Addrs: r.CIDRs}, nil
}
func (f *fakeHost) Hide(_ context.Context, r ExposeRequest) (ExposeResponse, error) {
	if len(r.CIDRs) == 0 {
		return ExposeResponse{Addrs: []netip.Prefix{netip.MustParsePrefix("10.32.0.9/13")}}, nil
	}
	return ExposeResponse{}, &BadRequestError{Err: errors.New("hide: " + r.CIDRs[0].String() + " is not exposed")}
}
func (f *fakeHost) Allow(_ context.Context, r PairRequest) error {
	f.pairs = append(f.pairs, r)
	return nil
}
func (f *fakeHost) Deny(_ context.Context, r PairRequest) (DenyResponse, error) {
	return DenyResponse{Removed: len(f.pairs) > 0}, nil
}
func (f *fakeHost) AddService(_ context.Context, s Service) error {
	f.services = append(f.services, s)
	return nil
}
func (f *fakeHost) RemoveService(_ context.Context, s Service) (RemoveServiceResponse, error) {
	for _, o := range f.services {
		if o.Kind == s.Kind && o.Listen == s.Listen {
			return RemoveServiceResponse{Removed: true}, nil
		}
	}
	return RemoveServiceResponse{}, nil
}
func (f *fakeHost) HostStatus() HostStatus {
	return HostStatus{Isolation: true, Drops: map[string]Drop{"vws1": {Spoofed: 3}}}
}

func TestHostRoutes(t *testing.T) {
	f := &fakeHost{}
	c := serveAll(t, backends(&f.fakeBackend, f))
	ctx := context.Background()
	p := netip.MustParsePrefix("10.40.1.254/24")
	if r, err := c.Expose(ctx, ExposeRequest{CIDRs: []netip.Prefix{p}, Subnets: []string{"app:web"}, Masquerade: true}); err != nil || len(r.Addrs) != 1 {
		t.Fatalf("Expose = %+v, %v", r, err)
	}
	if got := f.exposed[0]; !got.Masquerade || got.Subnets[0] != "app:web" || got.CIDRs[0] != p {
		t.Errorf("backend got %+v", got)
	}
	if _, err := c.Hide(ctx, ExposeRequest{CIDRs: []netip.Prefix{p}}); err == nil || !strings.Contains(err.Error(), "not exposed") {
		t.Errorf("Hide error = %v", err)
	}
	a, b := netip.MustParsePrefix("10.40.1.0/24"), netip.MustParsePrefix("10.40.2.0/24")
	if err := c.Allow(ctx, a, b); err != nil || len(f.pairs) != 1 || f.pairs[0].A != a || f.pairs[0].B != b {
		t.Errorf("Allow = %v, backend got %+v", err, f.pairs)
	}
	if r, err := c.Deny(ctx, a, b); err != nil || !r.Removed {
		t.Errorf("Deny = %+v, %v", r, err)
	}
	// A publish on every address of the host keeps its port across JSON.
	pub := Service{Kind: "publish", Proto: "tcp", Listen: netip.MustParseAddrPort("0.0.0.0:8080"), Target: netip.MustParseAddrPort("10.40.1.3:80")}
	if err := c.AddService(ctx, pub); err != nil || len(f.services) != 1 || f.services[0] != pub {
		t.Errorf("AddService = %v, backend got %+v", err, f.services)
	}
	if r, err := c.RemoveService(ctx, Service{Kind: "publish", Proto: "tcp", Listen: pub.Listen}); err != nil || !r.Removed {
		t.Errorf("RemoveService = %+v, %v", r, err)
	}
	if h, err := c.HostStatus(ctx); err != nil || !h.Isolation || h.Drops["vws1"].Spoofed != 3 {
		t.Errorf("HostStatus = %+v, %v", h, err)
	}
}

// Without a HostBackend there are no host routes.
func TestHostRoutesNeedHostBackend(t *testing.T) {
	c := serve(t, &fakeBackend{})
	if _, err := c.Expose(context.Background(), ExposeRequest{}); err == nil {
		t.Error("Expose reached a backend without HostBackend")
	}
}
