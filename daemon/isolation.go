package daemon

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/isolation"
)

// announceWait bounds how long an attach waits for the bridge to forward
// on the new port before it announces the container's MAC.
const announceWait = 2 * time.Second

// hostSide owns the router's nftables tables for its bridge (package
// isolation) and the state they are built from: container ports, allowed
// pairs, exposed addresses and services. Every change rebuilds the whole
// Ruleset and applies it in one nft transaction, under mu, so changes
// are serialised and the kernel always holds one consistent policy.
type hostSide struct {
	bridge  string
	isolate bool
	file    string // state kept across a crash (isolation_state.go)
	nft     isolation.NFT
	log     *slog.Logger

	// pairs is the mesh-wide set of allowed pairs (allow/deny at run
	// time), gossiped on its own channel and kept in pairsFile; a merge
	// that changes it kicks routineApplyPairs.
	pairs     *isolation.AllowSet
	pairsFile string
	kick      chan struct{}
	stop      chan struct{}
	done      sync.WaitGroup

	mu    sync.Mutex
	ports map[string]isolation.Port // by host veth
	// allow are this router's own pairs (--allow), besides pairs.
	allow []isolation.Pair
	// applied are the pairs the kernel's rules let through now.
	applied  []isolation.Pair
	exposed  []isolation.Exposed
	services []isolation.Service
	// exposeKeys are the allocator keys of the exposed addresses.
	exposeKeys map[netip.Prefix]string
	fwdPrev    string // IPv4 forwarding before this router turned it on; "" if it did not
}

// startHostSide replaces whatever tables an earlier run left for this
// bridge with this run's (empty) policy. With isolation on, nft and the
// kernel's bridge filtering are required; without, they are needed only
// once NAT is asked for.
func (d *Daemon) startHostSide() error {
	c := d.cfg
	h := &hostSide{bridge: c.Bridge, isolate: !c.NoIsolation, log: d.log, file: stateFile(c.DataDir),
		ports: map[string]isolation.Port{}, exposeKeys: map[netip.Prefix]string{},
		pairsFile: filepath.Join(c.DataDir, "allowed-pairs"), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	h.pairs = isolation.NewAllowSet(d.self, func() {
		select {
		case h.kick <- struct{}{}:
		default:
		}
	})
	if b, err := os.ReadFile(h.pairsFile); err == nil {
		if err := h.pairs.Restore(b); err != nil {
			d.log.Warn("allowed pairs not restored", "file", h.pairsFile, "err", err)
		}
	}
	for _, s := range c.Allow {
		pr, err := parsePair(s)
		if err != nil {
			return fmt.Errorf("--allow %q: %w", s, err)
		}
		h.allow = append(h.allow, pr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if h.isolate {
		if err := h.nft.Check(ctx); err != nil {
			return fmt.Errorf("isolation: %w (install nftables, or run with --no-isolation)", err)
		}
	}
	h.mu.Lock()
	err := h.loadLocked()
	if err == nil {
		if n := len(h.ports) + len(h.exposed); n > 0 {
			d.log.Info("host side: restored the state of an earlier run", "ports", len(h.ports), "exposed", len(h.exposed), "services", len(h.services))
		}
		err = h.applyLocked(ctx)
	}
	h.mu.Unlock()
	if err != nil && (h.isolate || !errors.Is(err, isolation.ErrNoNFT)) {
		return fmt.Errorf("isolation: %w", err)
	}
	d.hs = h
	h.done.Add(1)
	go h.routineApplyPairs()
	d.undo = append(d.undo, h.close)
	d.log.Info("host side ready", "isolation", h.isolate, "allowed", len(h.allow), "table", isolation.TableName(c.Bridge))
	return nil
}

// parsePair reads "A,B" or "A B".
func parsePair(s string) (isolation.Pair, error) {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' })
	if len(f) != 2 {
		return isolation.Pair{}, errors.New("want two subnets, A,B")
	}
	a, err := netip.ParsePrefix(f[0])
	if err != nil {
		return isolation.Pair{}, err
	}
	b, err := netip.ParsePrefix(f[1])
	if err != nil {
		return isolation.Pair{}, err
	}
	if a.Addr().Is4() != b.Addr().Is4() {
		return isolation.Pair{}, errors.New("one subnet is IPv4, the other IPv6")
	}
	return isolation.NewPair(a, b), nil
}

// rulesetLocked builds the Ruleset of the current state. h.mu is held.
func (h *hostSide) rulesetLocked() isolation.Ruleset {
	r := isolation.Ruleset{Bridge: h.bridge, Isolate: h.isolate}
	for _, name := range slices.Sorted(maps.Keys(h.ports)) {
		r.Policy.Ports = append(r.Policy.Ports, h.ports[name])
	}
	r.Policy.Allow = h.allowedLocked()
	r.NAT = isolation.NAT{Exposed: slices.Clone(h.exposed), Services: slices.Clone(h.services)}
	return r
}

// applyLocked puts the current state into the kernel, and turns IPv4
// forwarding on when NAT needs it. h.mu is held.
func (h *hostSide) applyLocked(ctx context.Context) error {
	r := h.rulesetLocked()
	if err := r.Validate(); err != nil {
		return err
	}
	if err := h.nft.Apply(ctx, r.Script()); err != nil {
		return err
	}
	h.applied = r.Policy.Allow
	if r.NAT.NeedsForwarding() && h.fwdPrev == "" {
		prev, err := host.EnableIPForward()
		if err != nil {
			return err
		}
		h.fwdPrev = prev
		if prev != "1" {
			h.log.Info("turned IPv4 forwarding on (restored on shutdown)")
		}
	}
	return nil
}

// change runs mutate on the state and applies the result; if applying
// fails, the state goes back to what it was and the kernel keeps the old
// rules (the transaction was refused as a whole).
func (h *hostSide) change(ctx context.Context, mutate func() error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	saved := struct {
		ports    map[string]isolation.Port
		allow    []isolation.Pair
		exposed  []isolation.Exposed
		services []isolation.Service
	}{maps.Clone(h.ports), slices.Clone(h.allow), slices.Clone(h.exposed), slices.Clone(h.services)}
	if err := mutate(); err != nil {
		return err
	}
	if err := h.applyLocked(ctx); err != nil {
		h.ports, h.allow, h.exposed, h.services = saved.ports, saved.allow, saved.exposed, saved.services
		return err
	}
	if err := h.saveLocked(); err != nil {
		h.log.Warn("host side state not saved", "err", err)
	}
	return nil
}

// allowedLocked is every allowed pair: this router's own and the
// mesh's. h.mu is held.
func (h *hostSide) allowedLocked() []isolation.Pair {
	out := slices.Clone(h.allow)
	for _, p := range h.pairs.Allowed() {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// routineApplyPairs applies the rules again whenever another router's
// allow or deny reached this one (the merge runs on the mesh's actor,
// which must not wait for nft).
func (h *hostSide) routineApplyPairs() {
	defer h.done.Done()
	for {
		select {
		case <-h.stop:
			return
		case <-h.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := h.change(ctx, func() error { return nil })
		cancel()
		if err != nil {
			h.log.Error("apply allowed pairs from the mesh", "err", err)
			continue
		}
		h.savePairs()
		h.mu.Lock()
		h.log.Info("allowed pairs changed by the mesh", "allowed", len(h.allowedLocked()))
		h.mu.Unlock()
	}
}

// savePairs keeps the mesh's allowed pairs in the data directory, so
// that they survive a restart of the whole cluster.
func (h *hostSide) savePairs() {
	st := h.pairs.State()
	if st == nil {
		return
	}
	tmp := h.pairsFile + ".tmp"
	if err := os.WriteFile(tmp, st, 0o600); err == nil {
		err = os.Rename(tmp, h.pairsFile)
		if err != nil {
			h.log.Warn("save allowed pairs", "err", err)
		}
	}
}

// close removes the tables and the exposed addresses, and restores IPv4
// forwarding.
func (h *hostSide) close() {
	close(h.stop)
	h.done.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.nft.Apply(ctx, isolation.DeleteScript(h.bridge)); err != nil && !errors.Is(err, isolation.ErrNoNFT) {
		h.log.Warn("remove nftables tables", "err", err)
	}
	for _, e := range h.exposed {
		if err := host.DelBridgeAddr(h.bridge, e.Addr); err != nil {
			h.log.Warn("hide", "addr", e.Addr, "err", err)
		}
	}
	h.exposed = nil
	if h.file != "" {
		_ = os.Remove(h.file)
	}
	if h.fwdPrev != "" && h.fwdPrev != "1" {
		if err := host.RestoreIPForward(h.fwdPrev); err != nil {
			h.log.Warn("restore IPv4 forwarding", "err", err)
		}
	}
	h.fwdPrev = ""
}

// appSubnet is the application subnet an attached address belongs to:
// the network of its CIDR. The allocator hands out addresses with their
// subnet's prefix length (net:CIDR, app:NAME, the default subnet), and an
// explicit CIDR names its own (10.40.1.5/24 is in 10.40.1.0/24).
func appSubnet(p netip.Prefix) netip.Prefix { return p.Masked() }

// isolatePort installs the rules for a container before its veth exists
// or comes up, so that it never sends a frame unfiltered: the port is
// named after the namespace, the MAC is chosen here (or given, for a
// container moving between hosts). It returns the MAC to attach with and
// an undo that restores the previous rules.
func (d *Daemon) isolatePort(ctx context.Context, path string, req api.AttachRequest, cidrs []netip.Prefix) (net.HardwareAddr, func(), error) {
	veth, err := host.HostVethName(path)
	if err != nil {
		return nil, nil, err
	}
	d.mu.Lock()
	prev, attached := d.attachments[path]
	d.mu.Unlock()
	if !attached {
		// Attached by an earlier run of this router (it crashed or was
		// killed): keep the MAC and addresses the container has.
		if ha, err := host.Attached(path); err == nil && ha != nil {
			prev, attached = api.Attachment{NetNS: ha.NetNS, HostVeth: ha.HostVeth, MAC: ha.MAC, Addrs: ha.Addrs}, true
		}
	}
	var mac frame.MAC
	switch {
	case req.MAC != "":
		if mac, err = frame.ParseMAC(req.MAC); err != nil {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("attach --mac: %w", err)}
		}
		if mac.IsMulticast() || mac.IsZero() {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("attach --mac: %s is not a unicast MAC", mac)}
		}
		if attached && !strings.EqualFold(prev.MAC, mac.String()) {
			return nil, nil, &api.BadRequestError{Err: fmt.Errorf("attach: %s is attached with MAC %s, not %s", req.NetNS, prev.MAC, mac)}
		}
	case attached:
		if mac, err = frame.ParseMAC(prev.MAC); err != nil {
			return nil, nil, err
		}
	default:
		_, _ = rand.Read(mac[:])
		mac[0] = mac[0]&0xfe | 0x02 // unicast, locally administered
	}
	addrs := slices.Clone(cidrs)
	if attached {
		addrs = append(addrs, prev.Addrs...)
	}
	pt := isolation.Port{Ifname: veth, MAC: mac}
	for _, p := range addrs {
		if !slices.Contains(pt.Addrs, p.Addr()) {
			pt.Addrs = append(pt.Addrs, p.Addr())
		}
		if s := appSubnet(p); !slices.Contains(pt.Subnets, s) {
			pt.Subnets = append(pt.Subnets, s)
		}
	}
	h := d.hs
	var old isolation.Port
	var had bool
	err = h.change(ctx, func() error {
		old, had = h.ports[veth]
		h.ports[veth] = pt
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("isolation rules for %s: %w", veth, err)
	}
	undo := func() {
		_ = h.change(context.Background(), func() error {
			if had {
				h.ports[veth] = old
			} else {
				delete(h.ports, veth)
			}
			return nil
		})
	}
	return net.HardwareAddr(mac[:]), undo, nil
}

// announce makes an attached container's MAC live here, at once, on the
// whole network: the switch core claims it (no echo window for a MAC that
// was on another peer a moment ago), and a gratuitous ARP from the
// container teaches every bridge and switch where it is now.
func (d *Daemon) announce(path string, a *host.Attachment) {
	if mac, err := frame.ParseMAC(a.MAC); err == nil {
		if d.rt.ClaimMAC(mac) {
			d.log.Info("MAC moved here from another peer", "mac", a.MAC)
		}
	}
	var addrs []netip.Addr
	for _, p := range a.Addrs {
		addrs = append(addrs, p.Addr())
	}
	if _, err := host.Announce(path, addrs, announceWait); err != nil {
		d.log.Warn("gratuitous ARP", "netns", path, "err", err)
	}
}

// unisolatePort removes a detached container's rules and forgets its MAC
// in the switch core.
func (d *Daemon) unisolatePort(ctx context.Context, path string, was api.Attachment) {
	veth, err := host.HostVethName(path)
	if err != nil {
		veth = was.HostVeth
	}
	h := d.hs
	if err := h.change(ctx, func() error { delete(h.ports, veth); return nil }); err != nil {
		d.log.Warn("remove isolation rules", "veth", veth, "err", err)
	}
	if mac, err := frame.ParseMAC(was.MAC); err == nil {
		d.rt.ForgetMAC(mac)
	}
}

// hostStatus reports the host side; with drops, it also reads the drop
// counters from nft (a fork: only for `status isolation`, not for every
// status poll).
func (d *Daemon) hostStatus(drops bool) *api.HostStatus {
	h := d.hs
	if h == nil {
		return nil
	}
	h.mu.Lock()
	s := &api.HostStatus{Isolation: h.isolate, Forwarding: h.fwdPrev != "", Allowed: []string{}, Exposed: []api.ExposedAddr{}, Services: []api.Service{}}
	for _, pr := range h.applied {
		s.Allowed = append(s.Allowed, pr.String())
	}
	for _, e := range h.exposed {
		s.Exposed = append(s.Exposed, api.ExposedAddr{Addr: e.Addr, Masquerade: e.Masquerade})
	}
	for _, sv := range h.services {
		s.Services = append(s.Services, api.Service{Kind: string(sv.Kind), Proto: sv.Proto, Listen: sv.Listen, Target: sv.Target})
	}
	h.mu.Unlock()
	if h.isolate && drops {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		v, err := h.nft.Drops(ctx, h.bridge)
		if err != nil {
			d.log.Warn("read isolation drop counters", "err", err)
		}
		s.Drops = map[string]api.Drop{}
		for k, c := range v {
			s.Drops[k] = api.Drop(c)
		}
	}
	return s
}

// HostStatus implements api.HostBackend.HostStatus.
func (d *Daemon) HostStatus() api.HostStatus { return *d.hostStatus(true) }

// meshChannels are the CRDTs the mesh carries: the allocator's and the
// allowed pairs.
func (d *Daemon) meshChannels() map[uint8]mesh.Channel {
	ch := d.ipamChannels()
	if d.hs != nil {
		ch[isolation.AllowChannelID] = d.hs.pairs
	}
	return ch
}
