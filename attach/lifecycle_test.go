package attach

import (
	"context"
	"errors"
	"github.com/weave-switch/weave-switch/host"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/isolation"
)

// memAddrs is an allocator in memory: each key gets one address.
type memAddrs struct {
	mu       sync.Mutex
	keys     map[string][]netip.Addr
	assigned []string
	released []string
}

func newMemAddrs() *memAddrs { return &memAddrs{keys: map[string][]netip.Addr{}} }

func (a *memAddrs) Assign(_ context.Context, key string, _ []netip.Prefix, _ []string) ([]netip.Prefix, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.assigned = append(a.assigned, key)
	if a.keys[key] == nil {
		a.keys[key] = []netip.Addr{netip.AddrFrom4([4]byte{10, 40, 0, byte(len(a.keys) + 1)})}
	}
	return []netip.Prefix{netip.PrefixFrom(a.keys[key][0], 24)}, func() {}, nil
}

func (a *memAddrs) Release(key string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.released = append(a.released, key)
	out := a.keys[key]
	delete(a.keys, key)
	return out
}

func (a *memAddrs) has(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[key] != nil
}

// recPorts records the ports whose rules were removed.
type recPorts struct {
	mu      sync.Mutex
	removed []string
}

func (p *recPorts) SetPort(context.Context, isolation.Port) (func(), error) { return func() {}, nil }
func (p *recPorts) RemovePort(_ context.Context, ifname string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removed = append(p.removed, ifname)
	return nil
}

// fakeResolver knows containers by name and by ID.
type fakeResolver struct {
	byName map[string]Target
	err    error
}

func (r fakeResolver) Resolve(_ context.Context, spec string) (Target, bool, error) {
	if r.err != nil {
		return Target{}, false, r.err
	}
	t, ok := r.byName[spec]
	return t, ok, nil
}

// put records an attachment as a successful attach would.
func put(t *testing.T, s *Service, e *entry) {
	t.Helper()
	ino, err := host.NetNSInode(e.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	e.ino = ino
	s.mu.Lock()
	s.attachments[e.key] = e
	s.mu.Unlock()
	s.cfg.Addresses.Assign(context.Background(), e.key, nil, nil)
}

func entryOf(s *Service, key string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attachments[key]
}

// A spec is a namespace if one of that name exists, else a container.
func TestResolveOrder(t *testing.T) {
	dir := t.TempDir()
	nsPath := filepath.Join(dir, "ns")
	os.WriteFile(nsPath, nil, 0o600)
	web := Target{NetNS: nsFile(t, "web"), Key: "docker:abc", Name: "web"}
	s := New(Config{Addresses: newMemAddrs(), Ports: nopPorts{}, Switch: nopSwitch{},
		Resolver: fakeResolver{byName: map[string]Target{"web": web, "stopped": {Key: "docker:def", Name: "stopped"},
			"999999999": {Key: "docker:999999999abc", Name: "digits"}}}})
	ctx := context.Background()

	if tg, err := s.resolve(ctx, nsPath); err != nil || tg.key != nsPath || tg.container {
		t.Errorf("resolve(path) = %+v, %v", tg, err)
	}
	if tg, err := s.resolve(ctx, "web"); err != nil || tg.key != "docker:abc" || tg.path != web.NetNS || tg.name != "web" || !tg.container {
		t.Errorf("resolve(web) = %+v, %v", tg, err)
	}
	_, err := s.resolve(ctx, "nosuch-ws-test")
	var bad *api.BadRequestError
	if !errors.As(err, &bad) || !strings.Contains(err.Error(), `no container "nosuch-ws-test"`) {
		t.Errorf("resolve(nosuch) error = %v", err)
	}
	if tg, err := s.resolve(ctx, "999999999"); err == nil {
		t.Errorf("resolve(a gone PID) = %+v, a container", tg)
	}
	if _, err := s.Attach(ctx, api.AttachRequest{NetNS: "stopped"}); !errors.As(err, &bad) || !strings.Contains(err.Error(), "not running") {
		t.Errorf("Attach(stopped) error = %v", err)
	}
	s.cfg.Resolver = fakeResolver{err: errors.New("dockerd down")}
	if _, err := s.resolve(ctx, "web"); err == nil || !strings.Contains(err.Error(), "dockerd down") || !strings.Contains(err.Error(), "/run/netns/web") {
		t.Errorf("resolve with a broken resolver: error = %v", err)
	}
}

// An attach by name asks the allocator under the container's key.
func TestAttachByNameKey(t *testing.T) {
	addrs := newMemAddrs()
	web := Target{NetNS: nsFile(t, "web"), Key: "docker:abc", Name: "web"}
	s := New(Config{Bridge: "ws-no-such-br", MTU: 1400, Addresses: addrs, Ports: nopPorts{}, Switch: nopSwitch{},
		Resolver: fakeResolver{byName: map[string]Target{"web": web}}})
	s.Attach(context.Background(), api.AttachRequest{NetNS: "web"}) // fails with no bridge, after Assign
	if !slices.Equal(addrs.assigned, []string{"docker:abc"}) {
		t.Errorf("assigned keys = %v", addrs.assigned)
	}
}

// The sweep releases a namespace's attachment when the namespace is
// removed or its path names another one, and stops a container's,
// keeping its addresses.
func TestSweep(t *testing.T) {
	addrs, ports := newMemAddrs(), &recPorts{}
	s := New(Config{Addresses: addrs, Ports: ports, Switch: nopSwitch{}})
	removed, replaced, kept := nsFile(t, "removed"), nsFile(t, "replaced"), nsFile(t, "kept")
	cont := nsFile(t, "cont")
	put(t, s, &entry{Attachment: api.Attachment{NetNS: removed, HostVeth: "ws-t-v1", MAC: "02:00:00:00:00:01"}, key: removed})
	put(t, s, &entry{Attachment: api.Attachment{NetNS: replaced, HostVeth: "ws-t-v2"}, key: replaced})
	put(t, s, &entry{Attachment: api.Attachment{NetNS: kept, HostVeth: "ws-t-v3"}, key: kept})
	put(t, s, &entry{Attachment: api.Attachment{NetNS: cont, HostVeth: "ws-t-v4", MAC: "02:00:00:00:00:04", Container: "web"},
		key: "docker:abc", container: true})

	if n := s.Sweep(context.Background()); n != 0 {
		t.Fatalf("Sweep with every namespace there = %d", n)
	}
	os.Remove(removed)
	// A new inode under the old name. The old file stays linked
	// elsewhere until the end, so that the file system cannot give its
	// inode number to the new one.
	if err := os.Link(replaced, replaced+".old"); err != nil {
		t.Fatal(err)
	}
	os.Remove(replaced)
	os.WriteFile(replaced+".new", nil, 0o600)
	os.Rename(replaced+".new", replaced)
	os.Remove(cont)
	if n := s.Sweep(context.Background()); n != 3 {
		t.Errorf("Sweep = %d, want 3", n)
	}
	for _, k := range []string{removed, replaced} {
		if entryOf(s, k) != nil || addrs.has(k) {
			t.Errorf("%s: attachment or addresses left", k)
		}
	}
	if entryOf(s, kept) == nil || !addrs.has(kept) {
		t.Errorf("the live namespace lost its attachment")
	}
	e := entryOf(s, "docker:abc")
	if e == nil || !e.Stopped || e.NetNS != "" || e.MAC != "02:00:00:00:00:04" || !addrs.has("docker:abc") {
		t.Errorf("container after its namespace went: %+v", e)
	}
	slices.Sort(ports.removed)
	if want := []string{"ws-t-v1", "ws-t-v2", "ws-t-v4"}; !slices.Equal(ports.removed, want) {
		t.Errorf("rules removed for %v, want %v", ports.removed, want)
	}
	if n := s.Sweep(context.Background()); n != 0 {
		t.Errorf("second Sweep = %d", n)
	}
	// A detach of a removed namespace after the sweep released it gets
	// what the sweep released, as if it had come first; once.
	if r, err := s.Detach(context.Background(), api.DetachRequest{NetNS: removed}); err != nil || len(r.Released) == 0 {
		t.Errorf("detach of the swept namespace = %+v, %v; want its addresses", r, err)
	}
	if r, err := s.Detach(context.Background(), api.DetachRequest{NetNS: removed}); err == nil {
		t.Errorf("second detach of the swept namespace = %+v, want an error", r)
	}
	as := s.Attachments()
	if len(as) != 2 || as[0].Container != "web" || !as[0].Stopped {
		t.Errorf("Attachments = %+v", as)
	}
}

// A container that died keeps its addresses; removing it releases them
// and forgets it; detaching a stopped one by name does the same.
func TestContainerLife(t *testing.T) {
	addrs, ports := newMemAddrs(), &recPorts{}
	ns := nsFile(t, "web")
	s := New(Config{Addresses: addrs, Ports: ports, Switch: nopSwitch{},
		Resolver: fakeResolver{byName: map[string]Target{"web": {Key: "docker:abc", Name: "web"}}}})
	ctx := context.Background()
	put(t, s, &entry{Attachment: api.Attachment{NetNS: ns, HostVeth: "ws-t-v1", MAC: "02:00:00:00:00:01", Container: "web"},
		key: "docker:abc", container: true, subnets: []string{"app:web"}})

	if !s.ContainerDied(ctx, "docker:abc") || s.ContainerDied(ctx, "docker:abc") {
		t.Errorf("ContainerDied: want true once")
	}
	if e := entryOf(s, "docker:abc"); e == nil || !e.Stopped || !addrs.has("docker:abc") {
		t.Fatalf("after die: %+v", e)
	}
	if ok, err := s.ContainerStarted(ctx, Target{NetNS: ns, Key: "docker:other", Name: "other"}); ok || err != nil {
		t.Errorf("ContainerStarted(not attached) = %v, %v", ok, err)
	}
	if freed := s.ContainerRemoved(ctx, "docker:abc"); len(freed) != 1 {
		t.Errorf("ContainerRemoved freed %v", freed)
	}
	if entryOf(s, "docker:abc") != nil || addrs.has("docker:abc") {
		t.Errorf("removed container left an attachment or addresses")
	}

	put(t, s, &entry{Attachment: api.Attachment{NetNS: ns, HostVeth: "ws-t-v1", Container: "web"}, key: "docker:abc", container: true})
	s.ContainerDied(ctx, "docker:abc")
	r, err := s.Detach(ctx, api.DetachRequest{NetNS: "web"})
	if err != nil || !r.Detached || len(r.Released) != 1 || entryOf(s, "docker:abc") != nil {
		t.Errorf("Detach(stopped web) = %+v, %v", r, err)
	}
}

// Start runs the sweep; Close stops it and is idempotent.
func TestStartClose(t *testing.T) {
	leakcheck.Check(t)
	s := New(Config{Addresses: newMemAddrs(), Ports: nopPorts{}, Switch: nopSwitch{}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
