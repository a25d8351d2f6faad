package isolation

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/weave-switch/weave-switch/api"
)

// specAddrs allocates one address per subnet spec from a table and
// records which keys hold addresses.
type specAddrs struct {
	mu   sync.Mutex
	held map[string]bool
}

var specTable = map[string]netip.Prefix{
	"net:default":      netip.MustParsePrefix("10.32.0.5/12"),
	"net:10.40.1.0/24": netip.MustParsePrefix("10.40.1.9/24"),
	"app:web":          netip.MustParsePrefix("10.40.2.9/24"),
}

func (a *specAddrs) Assign(_ context.Context, key string, cidrs []netip.Prefix, specs []string) ([]netip.Prefix, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := slices.Clone(cidrs)
	for _, sp := range specs {
		out = append(out, specTable[sp])
	}
	a.held[key] = true
	return out, func() { a.Release(key) }, nil
}

func (a *specAddrs) Release(key string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.held, key)
	return nil
}

// Hide by the spec that expose was given removes and releases the
// address that expose allocated for it, and only that one.
func TestHideBySpec(t *testing.T) {
	b := newBench(t)
	addrs := &specAddrs{held: map[string]bool{}}
	cfg := ServiceConfig{Self: 1, Bridge: "br0", Isolate: true, NFT: b.nft, Addresses: addrs}
	ctx := context.Background()
	inNS(t, b.host, func() {
		s := NewService(cfg)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		explicit := netip.MustParsePrefix("10.40.9.1/24")
		if _, err := s.Expose(ctx, api.ExposeRequest{CIDRs: []netip.Prefix{explicit}, Subnets: []string{"net:default", "net:10.40.1.0/24", "app:web"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Hide(ctx, api.ExposeRequest{Subnets: []string{"app:nope"}}); err == nil {
			t.Error("hide of a spec that was never exposed succeeded")
		}
		r, err := s.Hide(ctx, api.ExposeRequest{Subnets: []string{"app:web", "net:default"}})
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(r.Addrs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		want := []netip.Prefix{specTable["net:default"], specTable["app:web"]}
		if !slices.Equal(r.Addrs, want) {
			t.Errorf("hide app:web net:default removed %v, want %v", r.Addrs, want)
		}
		if addrs.held[exposeKey("app:web")] || addrs.held[exposeKey("net:default")] {
			t.Errorf("hidden specs are still held in the allocator: %v", addrs.held)
		}
		if !addrs.held[exposeKey("net:10.40.1.0/24")] || !addrs.held[exposeKey(explicit.Addr().String())] {
			t.Errorf("hide released addresses it was not asked to: %v", addrs.held)
		}
		var left []netip.Prefix
		for _, e := range s.HostStatus().Exposed {
			left = append(left, e.Addr)
		}
		slices.SortFunc(left, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
		if !slices.Equal(left, []netip.Prefix{specTable["net:10.40.1.0/24"], explicit}) {
			t.Errorf("exposed after hide: %v", left)
		}
		if _, err := s.Hide(ctx, api.ExposeRequest{Subnets: []string{"net:10.40.1.0/24"}, CIDRs: []netip.Prefix{explicit}}); err != nil {
			t.Fatal(err)
		}
		if len(addrs.held) != 0 || len(s.HostStatus().Exposed) != 0 {
			t.Errorf("after hiding everything: held %v, exposed %v", addrs.held, s.HostStatus().Exposed)
		}
	})
}
