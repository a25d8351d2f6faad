// Package watch makes a container's addresses follow its life: it
// follows the Docker daemon's container events, releases the addresses
// of a removed container, stops the attachment of a container attached
// by name when it dies and attaches it again, with the same MAC and
// addresses, when it starts. At start, and after every reconnection to a
// Docker daemon that went away, it reconciles: the addresses of every
// container that no longer exists are released.
//
// It also resolves container names and IDs for attaching (Names), and
// keeps the DNS registry's Docker names (Config.Names): a running
// container on the router's networks is known by its Docker name.
package watch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/docker"
)

// Docker is the Docker daemon's API, as the watcher uses it
// (*client.Client has it).
type Docker interface {
	ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error)
	Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult
	NetworkInspect(ctx context.Context, id string, opts client.NetworkInspectOptions) (client.NetworkInspectResult, error)
}

// Addresses is the address allocator, as the watcher needs it
// (alloc/ipam.Service has it): this host's allocations by key, and
// their release.
type Addresses interface {
	Status() *api.IPAMStatus
	Release(key string) []netip.Addr
}

// Attachments is the attach service, as the watcher drives it
// (attach.Service has it).
type Attachments interface {
	// ContainerDied stops the attachment of the container with key,
	// keeping its addresses.
	ContainerDied(ctx context.Context, key string) bool
	// ContainerStarted attaches t again if it was attached by name.
	ContainerStarted(ctx context.Context, t attach.Target) (bool, error)
	// ContainerRemoved forgets the container with key and releases its
	// addresses.
	ContainerRemoved(ctx context.Context, key string) []netip.Addr
}

// onConnectTimeout bounds Config.OnConnect.
const onConnectTimeout = 30 * time.Second

// Config configures a Service.
type Config struct {
	// Docker is the daemon's client (docker.NewClient); the caller
	// closes it after the Service.
	Docker Docker
	// Addresses is required; Attachments may be nil (then only
	// addresses are released).
	Addresses   Addresses
	Attachments Attachments
	// MinBackoff and MaxBackoff bound the wait before reconnecting to the
	// daemon; zero means 200ms and 5s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
	// Released, if set, is called after a container's addresses were
	// released, with how it was found gone ("destroy" or "reconcile").
	Released func(key, how string, addrs []netip.Addr)
	// OnConnect, if set, runs after every (re)connection's reconcile,
	// before events are handled: the router makes its default network
	// there. Its error is logged; the watcher goes on.
	OnConnect func(ctx context.Context) error
	// Names, if set, is the DNS registry: running containers on the
	// router's networks are registered under their Docker names
	// (NameKey) from start to death, and reconciled at every
	// (re)connection.
	Names DNS
}

// Service is the events watcher.
type Service struct {
	cfg   Config
	log   *slog.Logger
	names *Names

	cancel context.CancelFunc
	done   sync.WaitGroup
	once   sync.Once

	mu        sync.Mutex
	connected bool
	sessions  int             // event subscriptions that reached the daemon
	released  map[string]int  // containers whose addresses were released, by how they were found gone
	attached  int             // containers attached again when they started
	drivers   map[string]bool // Docker network IDs: on the router's driver or not
}

// New builds a Service; it does no I/O.
func New(cfg Config) *Service {
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	s := &Service{cfg: cfg, log: cfg.Logger, names: NewNames(cfg.Docker), released: map[string]int{}, drivers: map[string]bool{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Start spawns the watcher. It succeeds without a Docker daemon: the
// watcher keeps trying, and picks the daemon up when it appears.
func (s *Service) Start() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Add(1)
	go s.routineWatch(ctx)
	return nil
}

// Close stops the watcher and waits for it. It is idempotent.
func (s *Service) Close() error {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			s.done.Wait()
		}
	})
	return nil
}

// Connected reports whether the watcher follows a daemon's events, and
// how many times it subscribed to them.
func (s *Service) Connected() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected, s.sessions
}

func (s *Service) routineWatch(ctx context.Context) {
	defer s.done.Done()
	s.log.Debug("watch: started")
	defer s.log.Debug("watch: stopped")
	wait := s.cfg.MinBackoff
	told := false // that the daemon is not reachable, at Info once per outage
	for ctx.Err() == nil {
		reached, err := s.session(ctx)
		s.mu.Lock()
		s.connected = false
		s.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		switch {
		case reached:
			wait, told = s.cfg.MinBackoff, false
			s.log.Warn("docker events ended; reconnecting", "err", err)
		case !told:
			told = true
			s.log.Info("docker daemon not reachable; trying again until it is", "err", err)
		default:
			s.log.Debug("docker daemon not reachable", "err", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// session subscribes to the container events, reconciles, then handles
// events until the stream ends. reached says the daemon answered.
func (s *Service) session(ctx context.Context) (reached bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := make(client.Filters).Add("type", string(events.ContainerEventType)).
		Add("event", string(events.ActionStart), string(events.ActionDie), string(events.ActionDestroy))
	// Subscribe before reconciling, so that no removal falls between.
	res := s.cfg.Docker.Events(ctx, client.EventsListOptions{Filters: f})
	select {
	case err, ok := <-res.Err:
		if !ok || err == nil {
			err = errors.New("event stream closed")
		}
		return false, err
	default:
	}
	if err := s.reconcile(ctx); err != nil {
		return false, fmt.Errorf("reconcile: %w", err)
	}
	s.mu.Lock()
	s.connected = true
	s.sessions++
	s.mu.Unlock()
	s.log.Info("following docker container events")
	if s.cfg.OnConnect != nil {
		octx, ocancel := context.WithTimeout(ctx, onConnectTimeout)
		if err := s.cfg.OnConnect(octx); err != nil {
			s.log.Warn("on connecting to the docker daemon", "err", err)
		}
		ocancel()
	}
	for {
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case err, ok := <-res.Err:
			if !ok || err == nil {
				err = errors.New("event stream closed")
			}
			return true, err
		case m := <-res.Messages:
			s.handle(ctx, m)
		}
	}
}

// handle acts on one container event.
func (s *Service) handle(ctx context.Context, m events.Message) {
	id := m.Actor.ID
	if m.Type != events.ContainerEventType || id == "" {
		return
	}
	key := docker.ContainerKey(id)
	switch m.Action {
	case events.ActionDestroy:
		s.unregisterNames(id)
		s.release(ctx, key, "destroy")
	case events.ActionDie:
		s.unregisterNames(id)
		if s.cfg.Attachments != nil {
			s.cfg.Attachments.ContainerDied(ctx, key)
		}
	case events.ActionStart:
		// Attached again first: the addresses of an attach by name are
		// then among those registered.
		defer s.registerNames(ctx, id)
		if s.cfg.Attachments == nil {
			return
		}
		t, ok, err := s.names.Resolve(ctx, id)
		if err != nil || !ok || t.NetNS == "" {
			s.log.Debug("started container not found running", "id", id, "err", err)
			return
		}
		if ok, err := s.cfg.Attachments.ContainerStarted(ctx, t); err != nil {
			s.log.Warn("attach container again", "container", t.Name, "err", err)
		} else if ok {
			s.mu.Lock()
			s.attached++
			s.mu.Unlock()
			s.log.Info("container started: attached again", "container", t.Name)
		}
	}
}

// release frees a removed container's addresses and attachment.
func (s *Service) release(ctx context.Context, key, how string) {
	var freed []netip.Addr
	if s.cfg.Attachments != nil {
		freed = s.cfg.Attachments.ContainerRemoved(ctx, key)
	}
	for _, a := range s.cfg.Addresses.Release(key) {
		if !slices.Contains(freed, a) {
			freed = append(freed, a)
		}
	}
	if len(freed) > 0 {
		s.mu.Lock()
		s.released[how]++
		s.mu.Unlock()
		s.log.Info("container gone: addresses released", "key", key, "how", how, "addrs", freed)
	}
	if s.cfg.Released != nil {
		s.cfg.Released(key, how, freed)
	}
}

// reconcile releases the addresses of every container key whose
// container no longer exists, and attaches again the running containers
// attached by name (their start may have passed unseen).
func (s *Service) reconcile(ctx context.Context) error {
	// Keys first, then containers: a key made after the listing belongs
	// to a container that the listing may not show.
	var keys []string
	if st := s.cfg.Addresses.Status(); st != nil {
		for _, a := range st.Allocations {
			if strings.HasPrefix(a.Key, docker.KeyPrefix) {
				keys = append(keys, a.Key)
			}
		}
	}
	list, err := s.cfg.Docker.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return err
	}
	running := map[string]bool{}
	for _, c := range list.Items {
		running[c.ID] = c.State == "running"
	}
	released := 0
	for _, key := range keys {
		id, _ := docker.ContainerID(key)
		up, exists := running[id]
		switch {
		case !exists:
			s.release(ctx, key, "reconcile")
			released++
		case up && s.cfg.Attachments != nil:
			s.handle(ctx, events.Message{Type: events.ContainerEventType, Action: events.ActionStart, Actor: events.Actor{ID: id}})
		}
	}
	if err := s.reconcileNames(ctx, list.Items); err != nil {
		s.log.Warn("reconcile container names", "err", err)
	}
	s.log.Info("reconciled with docker", "containers", len(list.Items), "keys", len(keys), "released", released)
	return nil
}

// Names resolves container names and IDs (attach.Resolver).
type Names struct {
	docker Docker
}

// NewNames resolves through d; it does no I/O.
func NewNames(d Docker) *Names { return &Names{docker: d} }

// Resolve implements attach.Resolver: spec is a container's name, full
// ID or unique ID prefix. A container in another's or the host's network
// namespace cannot be attached on its own.
func (n *Names) Resolve(ctx context.Context, spec string) (attach.Target, bool, error) {
	if n == nil || n.docker == nil || spec == "" || strings.ContainsRune(spec, '/') {
		return attach.Target{}, false, nil
	}
	r, err := n.docker.ContainerInspect(ctx, spec, client.ContainerInspectOptions{})
	switch {
	case errdefs.IsNotFound(err):
		return attach.Target{}, false, nil
	case err != nil:
		return attach.Target{}, false, err
	}
	c := r.Container
	t := attach.Target{Key: docker.ContainerKey(c.ID), Name: strings.TrimPrefix(c.Name, "/")}
	if hc := c.HostConfig; hc != nil {
		if m := string(hc.NetworkMode); m == "host" || strings.HasPrefix(m, "container:") {
			return attach.Target{}, false, fmt.Errorf("container %s uses the network namespace of %q", t.Name, m)
		}
	}
	if c.State != nil && c.State.Running && c.State.Pid > 0 {
		t.NetNS = fmt.Sprintf("/proc/%d/ns/net", c.State.Pid)
	}
	return t, true, nil
}

var (
	_ Docker          = (*client.Client)(nil)
	_ Attachments     = (*attach.Service)(nil)
	_ attach.Resolver = (*Names)(nil)
)
