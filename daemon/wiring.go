package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/clock"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/vxlan"
	"github.com/weave-switch/weave-switch/router"
)

// backends builds each kernel backend this binary has, by name.
var backends = map[string]kernel.Builder{
	kernel.ModeVXLAN: func(env kernel.Env) (kernel.Datapath, error) { return vxlan.New(env) },
}

// fastPathPorts name the bridge port each kernel backend makes, by name:
// the isolation filter trusts them.
var fastPathPorts = map[string]func(bridge string) string{
	kernel.ModeVXLAN: vxlan.DeviceName,
}

// The router feeds the fast path.
var _ kernel.Source = (*router.Router)(nil)

// The mesh tells the allocator who is alive, and their nicknames.
var _ ipam.Topology = (*mesh.Mesh)(nil)

// peers serves the API's connect and forget.
type peers struct{ d *Daemon }

func (p peers) Connect(ctx context.Context, req api.ConnectRequest) error {
	if req.Address == "" {
		return &api.BadRequestError{Err: errors.New("connect: no address")}
	}
	if _, err := p.d.sleeve.ParseEndpoint(req.Address); err != nil {
		return &api.BadRequestError{Err: fmt.Errorf("connect: %w", err)}
	}
	return p.d.mesh.Connect(ctx, req.Address, req.Transport)
}

func (p peers) Forget(ctx context.Context, req api.ConnectRequest) (api.ForgetResponse, error) {
	ok, err := p.d.mesh.Forget(ctx, req.Address)
	return api.ForgetResponse{Forgotten: ok}, err
}

// localAddrs are the host's addresses the mesh offers peers to punch to:
// its interfaces' but the bridge's and the TAP's, outside the overlay's
// allocation range.
func (d *Daemon) localAddrs() []netip.Addr {
	overlay, _ := ipam.ParseRange(d.cfg.IPAllocRange)
	return host.LocalAddrs([]string{d.cfg.Bridge, d.tapName}, overlay)
}

// clockHook is the API's test hook on the daemon's clock: nil (no
// route) unless the router was started with TestClock.
func (d *Daemon) clockHook() api.Clock {
	if !d.cfg.TestClock {
		return nil
	}
	return clockStepper{d}
}

// clockStepper steps the daemon's clock for the API.
type clockStepper struct{ d *Daemon }

func (s clockStepper) StepClock(_ context.Context, req api.ClockStepRequest) (api.ClockStepResponse, error) {
	step := time.Duration(req.Seconds * float64(time.Second))
	off, ok := s.d.clock.Step(step)
	if !ok {
		return api.ClockStepResponse{Offset: off.Seconds()}, &api.BadRequestError{Err: fmt.Errorf("a step of %v would take the clock beyond ±%v", step, clock.MaxStep)}
	}
	s.d.log.Warn("test clock stepped", "step", step.String(), "offset", off.String())
	return api.ClockStepResponse{Offset: off.Seconds()}, nil
}
