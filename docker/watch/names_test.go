package watch

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"

	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

// fakeDNS is a registry of names by key.
type fakeDNS struct {
	mu   sync.Mutex
	keys map[string][]string // key: "name addr" entries, sorted
}

func (f *fakeDNS) CheckName(name string) error {
	if strings.ContainsAny(name, " /") || strings.HasSuffix(name, ".") && !strings.HasSuffix(name, ".weave.local.") {
		return errors.New("bad name")
	}
	return nil
}

func (f *fakeDNS) SetNames(key string, names []string, addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var es []string
	for _, n := range names {
		for _, a := range addrs {
			es = append(es, n+" "+a.String())
		}
	}
	slices.Sort(es)
	if len(es) == 0 {
		delete(f.keys, key)
	} else {
		f.keys[key] = es
	}
	return nil
}

func (f *fakeDNS) Keys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.keys {
		out = append(out, k)
	}
	return out
}

func (f *fakeDNS) get(key string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keys[key]
}

// addOn adds a running container with endpoints on networks (network
// ID: address).
func (d *fakeDocker) addOn(id, name, hostname string, pid int, nets map[string]string) {
	d.add(id, name, pid)
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.containers[id]
	c.Config = &container.Config{Hostname: hostname}
	c.NetworkSettings = &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{}}
	for n, a := range nets {
		c.NetworkSettings.Networks[n+"-name"] = &network.EndpointSettings{NetworkID: n, IPAddress: netip.MustParseAddr(a)}
	}
	d.containers[id] = c
}

func TestDockerNames(t *testing.T) {
	leakcheck.Check(t)
	d := newFakeDocker()
	d.down = true
	// A container on the router's network and Docker's bridge, one only
	// on Docker's bridge, one the proxy gave an address (allocated under
	// its key), and a stale registration of a container gone.
	d.addOn("c1", "web", "web.weave.local", 41, map[string]string{"wnet": "10.32.0.5", "bnet": "172.17.0.2"})
	d.addOn("c2", "plain", "plain", 42, map[string]string{"bnet": "172.17.0.3"})
	d.addOn("c3", "proxied", "proxied", 43, nil)
	addrs := &fakeAddrs{keys: map[string][]netip.Addr{"docker:c3": {netip.MustParseAddr("10.32.0.7")}}}
	names := &fakeDNS{keys: map[string][]string{NameKey("old"): {"old 10.32.0.99"}, "/run/netns/x": {"x 10.32.0.3"}}}
	s := New(Config{Docker: d, Addresses: addrs, Names: names, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d.up()
	<-d.subscribed
	wait(t, "reconciled", func() bool { ok, _ := s.Connected(); return ok })
	if got, want := names.get(NameKey("c1")), []string{"web 10.32.0.5", "web.weave.local 10.32.0.5"}; !slices.Equal(got, want) {
		t.Errorf("c1: %v, want %v", got, want)
	}
	if got := names.get(NameKey("c2")); got != nil {
		t.Errorf("c2 (not on weave): %v", got)
	}
	if got, want := names.get(NameKey("c3")), []string{"proxied 10.32.0.7"}; !slices.Equal(got, want) {
		t.Errorf("c3: %v, want %v", got, want)
	}
	if names.get(NameKey("old")) != nil || names.get("/run/netns/x") == nil {
		t.Errorf("reconcile: %v", names.Keys())
	}

	// Death drops the names, a start brings them back, removal drops them.
	d.send(events.ActionDie, "c1")
	wait(t, "c1's names dropped", func() bool { return names.get(NameKey("c1")) == nil })
	d.send(events.ActionStart, "c1")
	wait(t, "c1's names back", func() bool { return names.get(NameKey("c1")) != nil })
	d.mu.Lock()
	delete(d.containers, "c1")
	d.mu.Unlock()
	d.send(events.ActionDestroy, "c1")
	wait(t, "c1's names removed", func() bool { return names.get(NameKey("c1")) == nil })
}

// Register, Unregister and Nameserver make fakeDNS an attach.Names too.
func (f *fakeDNS) Register(key, name string, addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range addrs {
		e := name + " " + a.String()
		if !slices.Contains(f.keys[key], e) {
			f.keys[key] = append(f.keys[key], e)
		}
	}
	slices.Sort(f.keys[key])
	return nil
}

func (f *fakeDNS) Unregister(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.keys, key)
	return nil
}

func (f *fakeDNS) Nameserver([]netip.Addr) (netip.Addr, string, bool) { return netip.Addr{}, "", false }
