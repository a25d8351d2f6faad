package watch

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/docker"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

// fakeDocker is a daemon with containers and one event stream at a time;
// down makes every call fail as with no daemon.
type fakeDocker struct {
	mu         sync.Mutex
	down       bool
	containers map[string]container.InspectResponse
	stream     chan events.Message
	errs       chan error
	subscribed chan struct{}
}

func newFakeDocker() *fakeDocker {
	return &fakeDocker{containers: map[string]container.InspectResponse{}, subscribed: make(chan struct{}, 16)}
}

var errDown = errors.New("connection refused")

func (d *fakeDocker) add(id, name string, pid int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.containers[id] = container.InspectResponse{ID: id, Name: "/" + name,
		State: &container.State{Running: pid > 0, Pid: pid}, HostConfig: &container.HostConfig{NetworkMode: "bridge"}}
}

func (d *fakeDocker) ContainerInspect(_ context.Context, spec string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return client.ContainerInspectResult{}, errDown
	}
	for id, c := range d.containers {
		if id == spec || c.Name == "/"+spec {
			return client.ContainerInspectResult{Container: c}, nil
		}
	}
	return client.ContainerInspectResult{}, errdefs.ErrNotFound.WithMessage("no such container")
}

func (d *fakeDocker) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		return client.ContainerListResult{}, errDown
	}
	var out client.ContainerListResult
	for id, c := range d.containers {
		st := container.StateExited
		if c.State.Running {
			st = container.StateRunning
		}
		out.Items = append(out.Items, container.Summary{ID: id, State: st})
	}
	return out, nil
}

func (d *fakeDocker) Events(ctx context.Context, _ client.EventsListOptions) client.EventsResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	errs := make(chan error, 1)
	if d.down {
		errs <- errDown
		return client.EventsResult{Err: errs}
	}
	d.stream, d.errs = make(chan events.Message), errs
	d.subscribed <- struct{}{}
	return client.EventsResult{Messages: d.stream, Err: errs}
}

// NetworkInspect knows two networks: "wnet" on the router's driver and
// "bnet" on Docker's bridge.
func (d *fakeDocker) NetworkInspect(_ context.Context, id string, _ client.NetworkInspectOptions) (client.NetworkInspectResult, error) {
	var r client.NetworkInspectResult
	switch id {
	case "wnet":
		r.Network.Driver = docker.DriverName
	case "bnet":
		r.Network.Driver = "bridge"
	default:
		return r, errdefs.ErrNotFound.WithMessage("no such network")
	}
	r.Network.ID = id
	return r, nil
}

// send delivers an event on the current stream.
func (d *fakeDocker) send(action events.Action, id string) {
	d.mu.Lock()
	st := d.stream
	d.mu.Unlock()
	st <- events.Message{Type: events.ContainerEventType, Action: action, Actor: events.Actor{ID: id}}
}

// stop ends the stream and takes the daemon down.
func (d *fakeDocker) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = true
	d.errs <- errors.New("EOF")
}

func (d *fakeDocker) up() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.down = false
}

// fakeAddrs is an allocator's keys.
type fakeAddrs struct {
	mu   sync.Mutex
	keys map[string][]netip.Addr
}

func (a *fakeAddrs) Status() *api.IPAMStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &api.IPAMStatus{}
	for k, as := range a.keys {
		st.Allocations = append(st.Allocations, api.IPAMAllocation{Key: k, Addrs: as})
	}
	return st
}

func (a *fakeAddrs) Release(key string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.keys[key]
	delete(a.keys, key)
	return out
}

func (a *fakeAddrs) has(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[key] != nil
}

// fakeAtt records what the watcher asked of the attachments.
type fakeAtt struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeAtt) rec(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}
func (f *fakeAtt) ContainerDied(_ context.Context, key string) bool {
	f.rec("died " + key)
	return true
}
func (f *fakeAtt) ContainerStarted(_ context.Context, t attach.Target) (bool, error) {
	f.rec("started " + t.Key + " " + t.NetNS + " " + t.Name)
	return true, nil
}
func (f *fakeAtt) ContainerRemoved(_ context.Context, key string) []netip.Addr {
	f.rec("removed " + key)
	return nil
}

func (f *fakeAtt) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func TestResolve(t *testing.T) {
	d := newFakeDocker()
	d.add("abc123", "web", 42)
	d.add("def456", "db", 0)
	d.containers["host1"] = container.InspectResponse{ID: "host1", Name: "/h", State: &container.State{Running: true, Pid: 7},
		HostConfig: &container.HostConfig{NetworkMode: "host"}}
	n := NewNames(d)
	ctx := context.Background()
	if tg, ok, err := n.Resolve(ctx, "web"); !ok || err != nil || tg != (attach.Target{NetNS: "/proc/42/ns/net", Key: "docker:abc123", Name: "web"}) {
		t.Errorf("Resolve(web) = %+v, %v, %v", tg, ok, err)
	}
	if tg, ok, err := n.Resolve(ctx, "def456"); !ok || err != nil || tg.NetNS != "" || tg.Key != "docker:def456" {
		t.Errorf("Resolve(stopped) = %+v, %v, %v", tg, ok, err)
	}
	if _, ok, err := n.Resolve(ctx, "nosuch"); ok || err != nil {
		t.Errorf("Resolve(nosuch) = %v, %v", ok, err)
	}
	if _, ok, err := n.Resolve(ctx, "h"); ok || err == nil {
		t.Errorf("Resolve(host network) = %v, %v", ok, err)
	}
	d.down = true
	if _, ok, err := n.Resolve(ctx, "web"); ok || err == nil {
		t.Errorf("Resolve with the daemon down = %v, %v", ok, err)
	}
}

// wait polls cond until it holds (the test's own deadline bounds it).
func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The watcher starts with no daemon, reconciles when it appears and
// again after it went away, and follows the events in between.
func TestWatcher(t *testing.T) {
	leakcheck.Check(t)
	d := newFakeDocker()
	d.down = true
	d.add("gone1", "x", 0)
	delete(d.containers, "gone1")
	d.add("live", "web", 42)
	addrs := &fakeAddrs{keys: map[string][]netip.Addr{
		"docker:gone1": {netip.MustParseAddr("10.32.0.1")},
		"docker:live":  {netip.MustParseAddr("10.32.0.2")},
		"/run/netns/x": {netip.MustParseAddr("10.32.0.3")},
	}}
	att := &fakeAtt{}
	var mu sync.Mutex
	var released []string
	s := New(Config{Docker: d, Addresses: addrs, Attachments: att, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Released: func(key, how string, _ []netip.Addr) {
			mu.Lock()
			released = append(released, key+" "+how)
			mu.Unlock()
		}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	time.Sleep(20 * time.Millisecond)
	if ok, _ := s.Connected(); ok {
		t.Fatal("connected with the daemon down")
	}
	d.up()
	<-d.subscribed
	wait(t, "reconciled", func() bool { ok, _ := s.Connected(); return ok })
	mu.Lock()
	if !slices.Equal(released, []string{"docker:gone1 reconcile"}) {
		t.Errorf("released at reconcile: %v", released)
	}
	mu.Unlock()
	if !addrs.has("/run/netns/x") {
		t.Errorf("reconcile released a key not of a container")
	}
	if c := att.get(); !slices.Contains(c, "started docker:live /proc/42/ns/net web") {
		t.Errorf("reconcile did not re-attach the running container: %v", c)
	}

	d.send(events.ActionDie, "live")
	d.add("live", "web", 43)
	d.send(events.ActionStart, "live")
	// The start is handled (the container inspected) before the
	// container goes: the events are read while the test goes on.
	wait(t, "start handled", func() bool {
		return slices.Contains(att.get(), "started docker:live /proc/43/ns/net web")
	})
	d.mu.Lock()
	delete(d.containers, "live")
	d.mu.Unlock()
	d.send(events.ActionDestroy, "live")
	wait(t, "destroy handled", func() bool { return slices.Contains(att.get(), "removed docker:live") })
	want := []string{"died docker:live", "started docker:live /proc/43/ns/net web", "removed docker:live"}
	if c := att.get(); !slices.Equal(c[len(c)-3:], want) {
		t.Errorf("calls = %v, want them to end with %v", c, want)
	}
	if addrs.has("docker:live") {
		t.Errorf("destroy left the container's addresses")
	}

	// The daemon goes away; a container is removed meanwhile.
	addrs.mu.Lock()
	addrs.keys["docker:gone2"] = []netip.Addr{netip.MustParseAddr("10.32.0.9")}
	addrs.mu.Unlock()
	d.stop()
	d.up()
	<-d.subscribed
	wait(t, "reconciled again", func() bool { _, n := s.Connected(); return n == 2 })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.Collector())
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 4 {
		t.Errorf("metrics: %d families, %v", len(mfs), err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(released, "docker:gone2 reconcile") {
		t.Errorf("released after reconnecting: %v", released)
	}
}
