package kube

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
)

// Defaults of Config.
const (
	DefaultPort          = 6783
	DefaultRetryInterval = 10 * time.Second
	// callTimeout bounds one call into the mesh or the allocator.
	callTimeout = 30 * time.Second
)

// Mesh is what the Kubernetes mode needs of the mesh: dial targets, and
// who is alive under which nickname. *mesh.Mesh implements it.
type Mesh interface {
	// Connect adds the dial target addr (HOST:PORT), asking for transport
	// tr on that link ("" for the default).
	Connect(ctx context.Context, addr, tr string) error
	// Forget removes the dial target addr and drops its connection. It
	// reports whether the target was known.
	Forget(ctx context.Context, addr string) (bool, error)
	// Alive reports whether peer p shows signs of life.
	Alive(p frame.PeerName) bool
	// Nicknames are the known peers' nicknames.
	Nicknames() map[frame.PeerName]string
}

// IPAM is what the Kubernetes mode needs of address management: rmpeer,
// which reclaims the address space of dead peers (and which refuses a
// live one).
type IPAM interface {
	RmPeer(ctx context.Context, req api.RmPeerRequest) (api.RmPeerResponse, error)
}

// Config configures a Service. The zero value of each field but Mesh and
// IPAM means its default.
type Config struct {
	// Client is the cluster's API. If nil, Start builds one from the
	// in-cluster configuration (the pod's service account).
	Client *Client
	// NodeName is this router's node, which is not a peer of itself.
	NodeName string
	// Port is the control port the other nodes' routers listen on. If
	// zero, DefaultPort.
	Port uint16
	// Transport is asked for on the links to the nodes; "" is the
	// router's default.
	Transport string
	// Mesh and IPAM are the services acted on. Required.
	Mesh Mesh
	IPAM IPAM
	// RetryInterval is how often a failed connect, or the removal of a
	// deleted node whose router still looks alive, is tried again. If
	// zero, DefaultRetryInterval.
	RetryInterval time.Duration
	// Logger; if nil, slog.Default().
	Logger *slog.Logger
}

// Service keeps the mesh's targets in line with the cluster's nodes. Its
// methods are safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// wake has one slot: a change of the node list leaves a token in it
	// for routineReconcile, never blocking the watch.
	wake chan struct{}

	// State owned by routineReconcile.
	peers map[string]string   // node name → target it was connected at
	gone  map[string]struct{} // deleted nodes whose routers await rmpeer
	stuck map[string]bool     // gone nodes already logged as alive
}

// New returns a Service for cfg. It does no I/O.
func New(cfg Config) (*Service, error) {
	if cfg.Mesh == nil || cfg.IPAM == nil {
		return nil, errors.New("kube: Mesh and IPAM are required")
	}
	if cfg.NodeName == "" {
		return nil, errors.New("kube: no node name (set NODE_NAME from the downward API, or --kube-node-name)")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = DefaultRetryInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, 1),
		peers: map[string]string{}, gone: map[string]struct{}{}, stuck: map[string]bool{}}, nil
}

// Start builds the client if none was given, starts the node watch
// and the goroutine that acts on it. It does not wait for the API
// server. On failure it leaves nothing running.
func (s *Service) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return errors.New("kube: Start called twice or after Close")
	}
	client := s.cfg.Client
	if client == nil {
		var err error
		if client, err = NewInClusterClient(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.started = true
	nodes := newNodeCache(client, s.log, s.poke)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		nodes.run(ctx)
	}()
	go s.routineReconcile(ctx, nodes)
	s.log.Info("kube: following the cluster's nodes", "node", s.cfg.NodeName, "port", s.cfg.Port)
	return nil
}

// Close stops the node watch and the reconciling goroutine and waits for
// them. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

// poke wakes routineReconcile without blocking.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// routineReconcile waits for the first node list, then reconciles on
// every change, and every RetryInterval while something is left to do.
func (s *Service) routineReconcile(ctx context.Context, nodes *nodeCache) {
	defer s.wg.Done()
	s.log.Debug("kube: reconcile loop started")
	defer s.log.Debug("kube: reconcile loop stopped")
	select {
	case <-ctx.Done():
		return
	case <-nodes.synced:
	}
	retry := time.NewTimer(0)
	defer retry.Stop()
	<-retry.C
	for {
		pending := s.reconcile(ctx, nodes.list())
		if pending {
			retry.Reset(s.cfg.RetryInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-retry.C:
		}
		if pending && !retry.Stop() {
			select {
			case <-retry.C:
			default:
			}
		}
	}
}

// reconcile brings the mesh's targets in line with nodes and removes
// the routers of deleted nodes that are dead. It reports whether
// something is left to try again.
func (s *Service) reconcile(ctx context.Context, nodes []Node) (pending bool) {
	want := map[string]string{}
	for i := range nodes {
		n := &nodes[i]
		if n.Name == s.cfg.NodeName || n.DeletionTimestamp != nil {
			continue
		}
		addr, ok := NodeAddress(n)
		if !ok {
			continue
		}
		want[n.Name] = target(addr, s.cfg.Port)
	}
	names := sortedKeys(s.peers)
	for _, name := range names {
		if _, ok := want[name]; ok {
			continue
		}
		// Deleted, or lost its address: forget it; only a node gone
		// from the list is removed from the mesh.
		if !s.forget(ctx, name, s.peers[name]) {
			pending = true
			continue
		}
		delete(s.peers, name)
		if !slices.ContainsFunc(nodes, func(n Node) bool { return n.Name == name && n.DeletionTimestamp == nil }) {
			s.gone[name] = struct{}{}
		}
	}
	for _, name := range sortedKeys(want) {
		addr := want[name]
		delete(s.gone, name)
		delete(s.stuck, name)
		if old, ok := s.peers[name]; ok && old == addr {
			continue
		} else if ok {
			if !s.forget(ctx, name, old) {
				pending = true
				continue
			}
			delete(s.peers, name)
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		err := s.cfg.Mesh.Connect(cctx, addr, s.cfg.Transport)
		cancel()
		if err != nil {
			s.log.Warn("kube: connect to node", "node", name, "addr", addr, "err", err)
			pending = true
			continue
		}
		s.log.Info("kube: node is a peer", "node", name, "addr", addr)
		s.peers[name] = addr
	}
	for _, name := range sortedKeys(s.gone) {
		if ctx.Err() != nil {
			return false
		}
		if s.remove(ctx, name) {
			delete(s.gone, name)
			delete(s.stuck, name)
		} else {
			pending = true
		}
	}
	return pending
}

// forget drops the target of node name; it reports success.
func (s *Service) forget(ctx context.Context, name, addr string) bool {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if _, err := s.cfg.Mesh.Forget(cctx, addr); err != nil {
		s.log.Warn("kube: forget node", "node", name, "addr", addr, "err", err)
		return false
	}
	s.log.Info("kube: node is no longer a peer", "node", name, "addr", addr)
	return true
}

// remove reclaims the address space of the routers of deleted node
// name: the peers nicknamed name, once none of them is alive. It reports
// whether the node is done with (removed, or nothing to remove).
func (s *Service) remove(ctx context.Context, name string) bool {
	var dead []string
	for p, nick := range s.cfg.Mesh.Nicknames() {
		if nick != name {
			continue
		}
		if s.cfg.Mesh.Alive(p) {
			if !s.stuck[name] {
				s.log.Info("kube: deleted node's router still alive; waiting for it to stop before rmpeer", "node", name, "peer", p.String())
				s.stuck[name] = true
			}
			return false
		}
		dead = append(dead, p.String())
	}
	if len(dead) == 0 {
		s.log.Info("kube: deleted node had no router in the mesh; nothing to reclaim", "node", name)
		return true
	}
	slices.Sort(dead)
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	res, err := s.cfg.IPAM.RmPeer(cctx, api.RmPeerRequest{Names: dead})
	if err != nil {
		s.log.Warn("kube: rmpeer of deleted node", "node", name, "peers", dead, "err", err)
		return false
	}
	s.log.Info("kube: reclaimed the space of deleted node", "node", name, "peers", dead, "addresses", res.Reclaimed)
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
