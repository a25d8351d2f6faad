package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/vxlan"
	"github.com/weave-switch/weave-switch/router"
)

// backends builds each kernel backend this binary has, by name.
var backends = map[string]func(kernel.Env) (kernel.Datapath, error){
	kernel.ModeVXLAN: func(env kernel.Env) (kernel.Datapath, error) { return vxlan.New(env) },
}

// fastPathTick is how often the fast path's state is recomputed; every
// second tick sends the fast-path heartbeats (kernel.DefaultHeartbeatInterval).
const fastPathTick = kernel.DefaultHeartbeatInterval / 2

// fastPath runs the kernel fast path: it picks and builds the backend, and
// a goroutine feeds the Controller with the router's links and MAC table
// and sends the fast-path heartbeats.
type fastPath struct {
	choice kernel.Choice
	port   uint16
	ctl    *kernel.Controller
	log    *slog.Logger

	stop chan struct{}
	done sync.WaitGroup
}

// lazyDecider answers misses once the Controller exists.
type lazyDecider struct{ fp *fastPath }

func (l lazyDecider) Decide(h frame.Ethernet, from frame.PeerName) kernel.Decision {
	if l.fp.ctl == nil {
		return kernel.Decision{}
	}
	return l.fp.ctl.Decide(h, from)
}

// startFastPath selects and starts the backend. An explicitly asked backend
// that fails is an error; auto falls back to userspace and says why.
func (d *Daemon) startFastPath() error {
	c := d.cfg
	choice, err := kernel.Select(c.Datapath, len(c.Password) > 0, kernel.SystemProbes())
	if err != nil {
		return err
	}
	explicit := c.Datapath != "" && c.Datapath != kernel.ModeAuto
	fp := &fastPath{port: uint16(c.FastPathPort), log: d.log, stop: make(chan struct{})}
	if fp.port == 0 {
		fp.port = kernel.DefaultPort
	}
	env := kernel.Env{Self: d.self, Bridge: c.Bridge, TAP: d.tapName, MTU: d.mtu, Port: fp.port,
		VNI: kernel.DefaultVNI, Decider: lazyDecider{fp}, Logger: d.log}
	var dp kernel.Datapath = kernel.NullDatapath{}
	if choice.Backend != kernel.ModeUserspace {
		build, ok := backends[choice.Backend]
		switch {
		case !ok && explicit:
			return fmt.Errorf("--datapath %s: this build has no %s backend", choice.Backend, choice.Backend)
		case !ok:
			choice = kernel.Choice{Backend: kernel.ModeUserspace, Reason: choice.Reason + "; but this build has no " + choice.Backend + " backend"}
		default:
			dp, err = build(env)
			switch {
			case err != nil && explicit:
				return fmt.Errorf("--datapath %s: %w", choice.Backend, err)
			case err != nil:
				choice = kernel.Choice{Backend: kernel.ModeUserspace, Reason: fmt.Sprintf("%s; but %v", choice.Reason, err)}
				dp = kernel.NullDatapath{}
			}
		}
	}
	fp.choice = choice
	fp.ctl = kernel.NewController(kernel.ControllerConfig{Self: d.self, Datapath: dp, Logger: d.log})
	d.fp = fp
	d.log.Info("datapath", "backend", choice.Backend, "reason", choice.Reason, "udp_port", fp.port)
	if choice.Backend == kernel.ModeUserspace {
		return nil
	}
	d.rt.EnableFastHeartbeats(kernel.HeartbeatMAC(d.self), d.mtu)
	fp.done.Add(1)
	go d.routineFastPath()
	d.undo = append(d.undo, func() {
		close(fp.stop)
		fp.done.Wait()
		if err := dp.Close(); err != nil {
			d.log.Warn("fast path: close", "err", err)
		}
	})
	return nil
}

func (d *Daemon) routineFastPath() {
	fp := d.fp
	defer fp.done.Done()
	tick := time.NewTicker(fastPathTick)
	defer tick.Stop()
	errLog := rateLimited(d.log, 10*time.Second)
	var (
		macs      map[frame.MAC]frame.PeerName
		gen       uint64
		encrypted map[string]bool
		n         int
	)
	for {
		if n%8 == 0 { // the mesh's snapshot is refreshed every 2 s
			encrypted = d.linkEncryption()
		}
		if macs == nil || d.rt.MACGeneration() != gen {
			g, entries := d.rt.MACTable()
			gen = g
			macs = make(map[frame.MAC]frame.PeerName, len(entries))
			for _, e := range entries {
				macs[e.MAC] = e.Peer
			}
		}
		var links []kernel.LinkInput
		for _, h := range d.rt.FastHealth() {
			in := kernel.LinkInput{Peer: h.Peer, LastAck: h.LastAck, Encrypted: len(d.cfg.Password) > 0}
			if enc, ok := encrypted[h.Peer.String()]; ok {
				in.Encrypted = enc
			}
			if h.Addr != nil {
				in.Addr = h.Addr.DstAddrPort().Addr().Unmap()
			}
			links = append(links, in)
		}
		if err := fp.ctl.Sync(links, macs); err != nil {
			errLog("%v", err)
		}
		if n%40 == 0 { // every 10 s: keep MACs the kernel carries alive in the switch
			d.touchUsed(macs)
		}
		if n%2 == 0 {
			var to []router.FastTarget
			for _, p := range fp.ctl.Probed() {
				to = append(to, router.FastTarget{Peer: p, MAC: kernel.HeartbeatMAC(p)})
			}
			d.rt.SendFastHeartbeats(to)
		}
		n++
		select {
		case <-fp.stop:
			return
		case <-tick.C:
		}
	}
}

// touchUsed refreshes, in the switch, the MACs the kernel sent to in the
// last 15 s: the switch never sees that traffic.
func (d *Daemon) touchUsed(macs map[frame.MAC]frame.PeerName) {
	u, ok := d.fp.ctl.Datapath().(kernel.UsageReporter)
	if !ok {
		return
	}
	for m, t := range u.Used() {
		if p, ok := macs[m]; ok && time.Since(t) < 15*time.Second {
			d.rt.TouchMAC(m, p)
		}
	}
}

// linkEncryption returns whether each established link's data path is
// encrypted, from the mesh's latest status snapshot.
func (d *Daemon) linkEncryption() map[string]bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the cached snapshot is enough
	out := map[string]bool{}
	for _, c := range d.mesh.Status(ctx).Connections {
		if c.Peer != "" && c.State == "established" {
			out[c.Peer] = c.Encrypted
		}
	}
	return out
}

// fastPathStatus is the fast path's part of status.
func (d *Daemon) fastPathStatus() api.Fastpath {
	fp := d.fp
	if fp == nil {
		return api.Fastpath{Backend: kernel.ModeUserspace, Reason: "not started"}
	}
	dp := fp.ctl.Datapath()
	st := dp.Stats()
	fallbacks, recoveries, syncErrors := fp.ctl.Counters()
	out := api.Fastpath{
		Backend: fp.choice.Backend, Reason: fp.choice.Reason, Port: int(fp.port), VNI: kernel.DefaultVNI,
		HeartbeatInterval: kernel.DefaultHeartbeatInterval.String(), DownAfter: fp.ctl.DownAfter().String(),
		Entries: st.Entries, Installed: st.Installed, Removed: st.Removed, Misses: st.Misses,
		Errors: st.Errors + syncErrors, Fallbacks: fallbacks, Recoveries: recoveries,
	}
	if v, ok := dp.(interface{ Device() string }); ok {
		out.Device = v.Device()
	}
	acks := map[frame.PeerName]router.FastHealth{}
	for _, h := range d.rt.FastHealth() {
		acks[h.Peer] = h
	}
	for _, l := range fp.ctl.Links() {
		fl := api.FastLink{Peer: l.Peer.String(), State: l.State.String(), Reason: l.Reason, Since: l.Since,
			Fallbacks: l.Fallbacks, Recoveries: l.Recoveries}
		if l.Addr.IsValid() {
			fl.Addr = l.Addr.String()
		}
		if h, ok := acks[l.Peer]; ok && !h.LastAck.IsZero() {
			fl.LastAck = h.LastAck
			fl.RTT = h.RTT.Round(time.Microsecond).String()
		}
		out.Links = append(out.Links, fl)
	}
	for _, e := range dp.Entries() {
		fe := api.FastEntry{Kind: e.Kind, MAC: e.MAC.String(), Peer: e.Peer.String(), Detail: e.Detail, Used: e.Used}
		if e.Addr.IsValid() {
			fe.Addr = e.Addr.String()
		}
		if e.Peer == d.self {
			fe.Peer = "self"
		}
		out.Table = append(out.Table, fe)
	}
	return out
}

// connDatapath says whether the link to peer is on the fast path, and the
// reason for its state.
func (d *Daemon) connDatapath(fast map[string]api.FastLink, peer string) (string, string) {
	l, ok := fast[peer]
	switch {
	case !ok:
		return "userspace", ""
	case l.State == kernel.LinkUp.String():
		return "fastpath", l.Reason
	}
	return "userspace", l.Reason
}
