package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
)

// Builder builds one backend.
type Builder func(Env) (Datapath, error)

// ServiceConfig configures a Service.
type ServiceConfig struct {
	// Mode is the --datapath asked for: auto, userspace, vxlan or ovs.
	Mode string
	// Encrypted: the mesh has a password, so its links are encrypted.
	Encrypted bool
	// Unencrypted: with Encrypted, an explicitly asked kernel backend
	// may carry the links unencrypted (--fastpath-unencrypted); without
	// it, asking for one is an error.
	Unencrypted bool
	// Fence restricts the backend's UDP port to the peers' addresses;
	// if nil, an NFTFence on FenceTable(Env.Bridge).
	Fence Fence
	// Env is what the backend is built with; its Decider is the
	// Service's own.
	Env Env
	// Builders are the backends this binary has, by mode.
	Builders map[string]Builder
	// Probes say which backends can work here; zero: SystemProbes.
	Probes Probes
	// Now is the clock heartbeat answers are judged by. If nil,
	// time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Source is what the fast path needs of the router.
type Source interface {
	// FastLinks are the direct neighbours, with their fast-path heartbeat
	// answers and whether their link is encrypted.
	FastLinks() []LinkInput
	// MACOwners returns the MAC table (MAC -> owning peer, Self for
	// local) and its generation, unless the generation is still gen.
	MACOwners(gen uint64) (uint64, map[frame.MAC]frame.PeerName, bool)
	// TouchMAC keeps a MAC the kernel carries alive in the switch, which
	// never sees that traffic.
	TouchMAC(mac frame.MAC, owner frame.PeerName) bool
	// EnableFastHeartbeats makes the router answer fast-path heartbeats
	// to self, each 14 + mtu bytes long, and SendFastHeartbeats sends
	// one to each target.
	EnableFastHeartbeats(self frame.MAC, mtu int)
	SendFastHeartbeats(to []link.FastTarget) int
}

// runTick is how often the fast path's state is recomputed; every second
// tick sends the fast-path heartbeats.
const runTick = DefaultHeartbeatInterval / 2

// Service runs the kernel fast path: Start picks and builds the backend
// and starts the goroutine that reconciles it with the router's links
// and MAC table (Controller.Run); Close stops that goroutine and removes
// what the backend made.
type Service struct {
	cfg    ServiceConfig
	log    *slog.Logger
	choice Choice
	fence  Fence // nil with the userspace backend
	ctl    atomic.Pointer[Controller]
	src    Source

	cancel context.CancelFunc
	done   sync.WaitGroup
	once   sync.Once
}

// NewService builds a Service; it does no I/O.
func NewService(cfg ServiceConfig) *Service {
	s := &Service{cfg: cfg, log: cfg.Logger, choice: Choice{Backend: ModeUserspace, Reason: "not started"}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.Env.Port == 0 {
		s.cfg.Env.Port = DefaultPort
	}
	if s.cfg.Env.VNI == 0 {
		s.cfg.Env.VNI = DefaultVNI
	}
	return s
}

// Decide implements Decider with the Controller's latest View.
func (s *Service) Decide(h frame.Ethernet, from frame.PeerName) Decision {
	if c := s.ctl.Load(); c != nil {
		return c.Decide(h, from)
	}
	return Decision{}
}

// Start selects and builds the backend. An explicitly asked backend that
// fails is an error; auto falls back to userspace and says why. With a
// kernel backend it starts reconciling it with src.
func (s *Service) Start(src Source) error {
	probes := s.cfg.Probes
	if probes.OVS == nil && probes.VXLAN == nil {
		probes = SystemProbes()
	}
	choice, err := Select(s.cfg.Mode, s.cfg.Encrypted, probes)
	if err != nil {
		return err
	}
	if s.cfg.Encrypted && choice.Backend != ModeUserspace && !s.cfg.Unencrypted {
		return fmt.Errorf("--datapath %s: the mesh has a password and no kernel backend encrypts: add --fastpath-unencrypted to carry its links unencrypted over the fast path, or use --datapath auto or userspace", choice.Backend)
	}
	explicit := s.cfg.Mode != "" && s.cfg.Mode != ModeAuto
	env := s.cfg.Env
	env.Decider, env.Logger = s, s.log
	var (
		dp    Datapath = NullDatapath{}
		fence Fence
	)
	if choice.Backend != ModeUserspace {
		build, ok := s.cfg.Builders[choice.Backend]
		switch {
		case !ok && explicit:
			return fmt.Errorf("--datapath %s: this build has no %s backend", choice.Backend, choice.Backend)
		case !ok:
			choice = Choice{Backend: ModeUserspace, Reason: choice.Reason + "; but this build has no " + choice.Backend + " backend"}
		default:
			dp, fence, err = s.build(build, env)
			switch {
			case err != nil && explicit:
				return fmt.Errorf("--datapath %s: %w", choice.Backend, err)
			case err != nil:
				choice = Choice{Backend: ModeUserspace, Reason: fmt.Sprintf("%s; but %v", choice.Reason, err)}
				dp = NullDatapath{}
			}
		}
	}
	s.choice, s.src, s.fence = choice, src, fence
	ctl := NewController(ControllerConfig{Self: env.Self, Datapath: dp, Fence: fence, Unencrypted: s.unencrypted(), Now: s.cfg.Now, Logger: s.log})
	s.ctl.Store(ctl)
	s.log.Info("datapath", "backend", choice.Backend, "reason", choice.Reason, "udp_port", env.Port)
	if choice.Backend == ModeUserspace {
		return nil
	}
	src.EnableFastHeartbeats(HeartbeatMAC(env.Self), env.MTU)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		ctl.Run(ctx, src)
	}()
	return nil
}

// Close stops reconciling and closes the backend. It is idempotent.
func (s *Service) Close() error {
	var err error
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			s.done.Wait()
		}
		if c := s.ctl.Load(); c != nil {
			if err = c.Datapath().Close(); err != nil {
				s.log.Warn("fast path: close", "err", err)
			}
		}
		if s.fence != nil {
			if ferr := s.fence.Close(); ferr != nil {
				s.log.Warn("fast path: close", "err", ferr)
				err = errors.Join(err, ferr)
			}
		}
	})
	return err
}

// build puts up the fence, so that the port accepts nothing before the
// backend binds it, then builds the backend; on error it takes the fence
// down again.
func (s *Service) build(build Builder, env Env) (Datapath, Fence, error) {
	fence := s.cfg.Fence
	if fence == nil {
		fence = &NFTFence{Table: FenceTable(env.Bridge), Port: env.Port}
	}
	if err := fence.Start(); err != nil {
		_ = fence.Close()
		return nil, nil, err
	}
	dp, err := build(env)
	if err != nil {
		_ = fence.Close()
		return nil, nil, err
	}
	return dp, fence, nil
}

// unencrypted reports whether the kernel backend carries links that are
// encrypted in userspace, unencrypted.
func (s *Service) unencrypted() bool { return s.cfg.Encrypted && s.cfg.Unencrypted }

// Choice is the backend in use and why.
func (s *Service) Choice() Choice { return s.choice }

// Controller is the running Controller; nil before Start.
func (s *Service) Controller() *Controller { return s.ctl.Load() }

// Port is the fast path's UDP port.
func (s *Service) Port() uint16 { return s.cfg.Env.Port }

// Run reconciles the Datapath with src until ctx is done: every tick it
// computes the View from src's links and MAC table; every second tick
// it sends the fast-path heartbeats to the probed links; every 10 s it
// keeps the MACs the kernel carries alive in the switch.
func (c *Controller) Run(ctx context.Context, src Source) {
	tick := time.NewTicker(runTick)
	defer tick.Stop()
	lastErr := time.Time{}
	var (
		macs map[frame.MAC]frame.PeerName
		gen  uint64
	)
	for n := 0; ; n++ {
		if g, m, changed := src.MACOwners(gen); changed || macs == nil {
			gen, macs = g, m
		}
		if err := c.Sync(src.FastLinks(), macs); err != nil && time.Since(lastErr) > 10*time.Second {
			lastErr = time.Now()
			c.cfg.Logger.Error("fast path: sync", "err", err)
		}
		if n%40 == 0 {
			c.touchUsed(src, macs)
		}
		if n%2 == 0 {
			probed := c.Probed()
			to := make([]link.FastTarget, len(probed))
			for i, p := range probed {
				to[i] = link.FastTarget{Peer: p, MAC: HeartbeatMAC(p)}
			}
			src.SendFastHeartbeats(to)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// touchUsed refreshes, in the switch, the MACs the kernel sent to in the
// last 15 s.
func (c *Controller) touchUsed(src Source, macs map[frame.MAC]frame.PeerName) {
	u, ok := c.cfg.Datapath.(UsageReporter)
	if !ok {
		return
	}
	for m, t := range u.Used() {
		if p, ok := macs[m]; ok && time.Since(t) < 15*time.Second {
			src.TouchMAC(m, p)
		}
	}
}
