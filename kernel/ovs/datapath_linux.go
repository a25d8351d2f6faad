package ovs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/weaveworks/go-odp/odp"
	"golang.org/x/sys/unix"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/vxlan"
)

// Datapath is the ovs backend. Update is called from one goroutine; Stats,
// Entries, Used, DatapathStats and Close are safe concurrently with it and
// with the backend's own goroutines (routineMisses, routineSweep).
type Datapath struct {
	env   kernel.Env
	cfg   Config
	names Names
	log   *slog.Logger
	limit ratelimit.Limiter

	nl      *netlink.Handle // rtnetlink, opened in the router's namespace
	brPort  netlink.Link    // the veth end on the bridge
	tapIx   int
	hbMAC   frame.MAC
	ports   ports
	ifindex int32 // the datapath's id in ovs_header

	upcalls  *genlConn // read by routineMisses only
	execDpif *odp.Dpif // its own socket, used by routineMisses only
	exec     odp.DatapathHandle

	// mu guards the go-odp handle (its socket is not safe for concurrent
	// use), the control socket and everything below.
	mu struct {
		sync.Mutex
		dpif    *odp.Dpif
		dp      odp.DatapathHandle
		ctl     *genlConn
		fam     families
		flows   *flowTable
		view    *kernel.View
		addrs   map[netip.Addr]frame.PeerName
		fdb     vxlan.Spec // the bridge entries applied on brPort
		gen     uint64     // bumped whenever an Update invalidates flows
		closed  bool
		updates int
	}

	done chan struct{}
	wg   sync.WaitGroup

	misses, installed, removed, expired, errs atomic.Uint64
	userspace, strangers, stale, full         atomic.Uint64
}

type families struct{ datapath, vport, packet uint16 }

var (
	_ kernel.Datapath      = (*Datapath)(nil)
	_ kernel.UsageReporter = (*Datapath)(nil)
)

// New builds the ovs backend on env.Bridge, in the calling thread's
// network namespace: the datapath NamesFor(env.Bridge).Datapath, a veth
// pair whose one end is a bridge port (learning and every kind of flooding
// off: the bridge sends it only what a static FDB entry points at it) and
// whose other end is a netdev vport, a vxlan vport on env.Port, the
// upcall socket, and this router's heartbeat entry on env.TAP. Leftovers
// of a previous run with the same names are removed first. On error it
// removes what it created. It returns an error that wraps
// kernel.ErrNotSupported-like detail from the kernel when there is no
// OVS datapath.
func New(env kernel.Env, cfg Config) (_ *Datapath, err error) {
	if env.Port == 0 {
		env.Port = kernel.DefaultPort
	}
	if env.VNI == 0 {
		env.VNI = kernel.DefaultVNI
	}
	if env.Logger == nil {
		env.Logger = slog.Default()
	}
	d := &Datapath{
		env:   env,
		cfg:   cfg.withDefaults(),
		names: NamesFor(env.Bridge),
		log:   env.Logger.With("datapath", "ovs"),
		limit: ratelimit.Limiter{Interval: 10 * time.Second, Burst: 5},
		hbMAC: kernel.HeartbeatMAC(env.Self),
		done:  make(chan struct{}),
	}
	d.mu.flows = newFlowTable()
	d.mu.fdb = vxlan.Spec{}
	d.mu.addrs = map[netip.Addr]frame.PeerName{}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	if d.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("ovs: rtnetlink: %w", err)
	}
	undo = append(undo, d.nl.Close)
	br, err := d.nl.LinkByName(env.Bridge)
	if err != nil {
		return nil, fmt.Errorf("ovs: bridge %s: %w", env.Bridge, err)
	}
	tap, err := d.nl.LinkByName(env.TAP)
	if err != nil {
		return nil, fmt.Errorf("ovs: TAP %s: %w", env.TAP, err)
	}
	d.tapIx = tap.Attrs().Index
	mtu := env.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}

	ctl, err := openGenl()
	if err != nil {
		return nil, fmt.Errorf("ovs: %w", err)
	}
	undo = append(undo, func() { ctl.Close() })
	d.mu.ctl = ctl
	for name, id := range map[string]*uint16{"ovs_datapath": &d.mu.fam.datapath, "ovs_vport": &d.mu.fam.vport, "ovs_packet": &d.mu.fam.packet} {
		if *id, err = familyID(ctl, name); err != nil {
			return nil, fmt.Errorf("ovs: no %s generic netlink family (openvswitch module not loaded?): %w", name, err)
		}
	}
	if d.mu.dpif, err = odp.NewDpif(); err != nil {
		return nil, fmt.Errorf("ovs: %w", err)
	}
	undo = append(undo, func() { d.mu.dpif.Close() })

	// Leftovers of a run that did not clean up: the datapath (its vports
	// go with it) and the veth pair.
	if old, err := d.mu.dpif.LookupDatapath(d.names.Datapath); err == nil {
		if err := old.Delete(); err != nil {
			return nil, fmt.Errorf("ovs: remove leftover datapath %s: %w", d.names.Datapath, err)
		}
	}
	if old, err := d.nl.LinkByName(d.names.BridgePort); err == nil {
		if err := d.nl.LinkDel(old); err != nil {
			return nil, fmt.Errorf("ovs: remove leftover %s: %w", d.names.BridgePort, err)
		}
	}

	if d.mu.dp, err = d.mu.dpif.CreateDatapath(d.names.Datapath); err != nil {
		return nil, fmt.Errorf("ovs: create datapath %s: %w", d.names.Datapath, err)
	}
	undo = append(undo, func() { d.mu.dp.Delete() })
	d.ifindex = int32(d.mu.dp.ID())

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: d.names.BridgePort, MTU: mtu}, PeerName: d.names.DatapathPort}
	if err := d.nl.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("ovs: create veth %s/%s: %w", d.names.BridgePort, d.names.DatapathPort, err)
	}
	undo = append(undo, func() { d.nl.LinkDel(veth) })
	if err := d.setUpBridgePort(br); err != nil {
		return nil, err
	}
	dpo, err := d.nl.LinkByName(d.names.DatapathPort)
	if err != nil {
		return nil, fmt.Errorf("ovs: %w", err)
	}
	if err := d.nl.LinkSetMTU(dpo, mtu); err != nil {
		return nil, fmt.Errorf("ovs: MTU of %s: %w", d.names.DatapathPort, err)
	}
	if err := d.nl.LinkSetUp(dpo); err != nil {
		return nil, fmt.Errorf("ovs: up %s: %w", d.names.DatapathPort, err)
	}
	bp, err := d.mu.dp.CreateVport(odp.NewNetdevVportSpec(d.names.DatapathPort))
	if err != nil {
		return nil, fmt.Errorf("ovs: vport %s: %w", d.names.DatapathPort, err)
	}
	vp, err := d.mu.dp.CreateVport(odp.NewVxlanVportSpec(d.names.VXLAN, env.Port))
	if err != nil {
		return nil, fmt.Errorf("ovs: vxlan vport %s (UDP %d): %w", d.names.VXLAN, env.Port, err)
	}
	d.ports = ports{Bridge: uint32(bp), VXLAN: uint32(vp), VNI: uint64(env.VNI), Local: env.Local}

	// Misses of both vports come to our own socket.
	if d.upcalls, err = openGenl(); err != nil {
		return nil, fmt.Errorf("ovs: upcall socket: %w", err)
	}
	undo = append(undo, func() { d.upcalls.Close() })
	for _, port := range []uint32{d.ports.Bridge, d.ports.VXLAN} {
		if err := d.setUpcallPID(port, d.upcalls.pid); err != nil {
			return nil, err
		}
	}
	// go-odp's Execute sends without reading; an error reply would sit in
	// the socket and be taken for the answer to the next request. So the
	// missed frames go out on a socket of their own that nothing reads.
	if d.execDpif, err = d.mu.dpif.Reopen(); err != nil {
		return nil, fmt.Errorf("ovs: %w", err)
	}
	undo = append(undo, func() { d.execDpif.Close() })
	if d.exec, err = d.execDpif.LookupDatapath(d.names.Datapath); err != nil {
		return nil, fmt.Errorf("ovs: %w", err)
	}
	if err := d.ensureTAPEntry(); err != nil {
		return nil, err
	}
	// The bridge's own stack (IPv6 router solicitations, MLD) floods
	// group frames to every port whatever the port's flood flags: drop
	// them in the kernel rather than upcall each one.
	drop := flowState{Key: flowKey{InPort: d.ports.Bridge, Group: true}, Action: flowAction{Drop: true}}
	if err := d.mu.dp.CreateFlow(odpSpec(drop.Key, drop.Action)); err != nil {
		return nil, fmt.Errorf("ovs: group drop flow: %w", err)
	}
	d.mu.flows.add(drop)

	d.wg.Add(1)
	go d.routineMisses()
	if d.cfg.SweepInterval > 0 {
		d.wg.Add(1)
		go d.routineSweep()
	}
	d.log.Info("ovs datapath ready", "datapath", d.names.Datapath, "bridge_port", d.names.BridgePort,
		"vport", bp, "vxlan_vport", vp, "udp_port", env.Port, "vni", env.VNI, "idle_timeout", d.cfg.IdleTimeout)
	return d, nil
}

// setUpBridgePort makes the bridge end of the veth a port of br that
// receives only what static FDB entries send it.
func (d *Datapath) setUpBridgePort(br netlink.Link) error {
	l, err := d.nl.LinkByName(d.names.BridgePort)
	if err != nil {
		return fmt.Errorf("ovs: %w", err)
	}
	if err := d.nl.LinkSetMaster(l, br); err != nil {
		return fmt.Errorf("ovs: %s into bridge %s: %w", d.names.BridgePort, d.env.Bridge, err)
	}
	if err := d.nl.LinkSetLearning(l, false); err != nil {
		return fmt.Errorf("ovs: bridge learning off on %s: %w", d.names.BridgePort, err)
	}
	if err := d.nl.LinkSetFlood(l, false); err != nil {
		return fmt.Errorf("ovs: unknown-unicast flooding off on %s: %w", d.names.BridgePort, err)
	}
	// Broadcast and multicast go over the userspace path (the TAP); here
	// each would only cost an upcall.
	for _, attr := range []int{nl.IFLA_BRPORT_MCAST_FLOOD, nl.IFLA_BRPORT_BCAST_FLOOD} {
		if err := setBrportFlag(l.Attrs().Index, attr, false); err != nil {
			return fmt.Errorf("ovs: flooding off on %s: %w", d.names.BridgePort, err)
		}
	}
	if err := d.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("ovs: up %s: %w", d.names.BridgePort, err)
	}
	d.brPort = l
	return nil
}

// Name implements kernel.Datapath.
func (d *Datapath) Name() string { return kernel.ModeOVS }

// Device returns the datapath's name, for status.
func (d *Datapath) Device() string { return d.names.Datapath }

// Names returns the kernel objects' names.
func (d *Datapath) Names() Names { return d.names }

func (d *Datapath) ensureTAPEntry() error {
	if err := d.nl.NeighSet(fdbEntry(d.tapIx, d.hbMAC)); err != nil {
		return fmt.Errorf("ovs: heartbeat entry %s on %s: %w", d.hbMAC, d.env.TAP, err)
	}
	return nil
}

// setUpcallPID points port's misses at pid. Call with mu held or before
// the Datapath is shared.
func (d *Datapath) setUpcallPID(port, pid uint32) error {
	a := appendU32Attr(nil, vportPortNo, port)
	a = appendU32Attr(a, vportUpcall, pid)
	if _, err := d.mu.ctl.request(newGenlRequest(d.mu.fam.vport, vportCmdSet, vportVersion, true, d.ifindex, a), false); err != nil {
		return fmt.Errorf("ovs: upcall PID of vport %d: %w", port, err)
	}
	return nil
}

// DatapathStats returns the kernel's counters for the datapath: frames
// that hit a flow, missed, were lost, and the number of flows.
func (d *Datapath) DatapathStats() (DatapathStats, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return DatapathStats{}, errors.New("ovs: closed")
	}
	a := appendAttr(nil, dpAttrName, append([]byte(d.names.Datapath), 0))
	replies, err := d.mu.ctl.request(newGenlRequest(d.mu.fam.datapath, dpCmdGet, dpVersion, true, 0, a), false)
	if err != nil {
		return DatapathStats{}, fmt.Errorf("ovs: datapath stats: %w", err)
	}
	if len(replies) == 0 {
		return DatapathStats{}, errors.New("ovs: datapath stats: no reply")
	}
	return parseDatapathStats(replies[0])
}

// familyID resolves a generic netlink family name.
func familyID(c *genlConn, name string) (uint16, error) {
	a := appendAttr(nil, ctrlFamilyNm, append([]byte(name), 0))
	replies, err := c.request(newGenlRequest(genlIDCtrl, ctrlGetFamily, 1, false, 0, a), false)
	if err != nil {
		return 0, err
	}
	if len(replies) == 0 {
		return 0, errors.New("no reply")
	}
	return parseFamilyID(replies[0])
}

// routineMisses reads upcalls until Close closes the socket.
func (d *Datapath) routineMisses() {
	defer d.wg.Done()
	d.log.Debug("routineMisses: started")
	defer d.log.Debug("routineMisses: stopped")
	for {
		b, err := d.upcalls.recv()
		if errors.Is(err, os.ErrClosed) {
			return
		}
		if err != nil {
			d.errs.Add(1)
			d.logLimited("ovs: reading upcalls", "err", err)
			select {
			case <-d.done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		for len(b) > 0 {
			h, body, rest, err := splitNlmsg(b)
			if err != nil {
				d.logLimited("ovs: bad upcall datagram", "err", err)
				break
			}
			b = rest
			if h.Type != d.mu.fam.packet { // fam is written only by New
				continue
			}
			u, err := parseUpcall(body)
			if err != nil {
				d.logLimited("ovs: bad upcall", "err", err)
				continue
			}
			if u.Dp != d.ifindex {
				continue
			}
			d.handleMiss(u)
		}
	}
}

// handleMiss asks the Decider about one missed frame and installs the
// flow it implies, then sends the frame on its way.
func (d *Datapath) handleMiss(u upcall) {
	d.misses.Add(1)
	d.mu.Lock()
	gen, addrs, closed := d.mu.gen, d.mu.addrs, d.mu.closed
	d.mu.Unlock()
	if closed {
		return
	}
	from, v := classify(u, d.ports, addrs)
	var f flowState
	if v == vInstall {
		dec := kernel.Decision{}
		if d.env.Decider != nil && len(u.Packet) >= frame.EthernetHeaderSize {
			dec = d.env.Decider.Decide(frame.Ethernet(u.Packet), from)
		}
		f, v = plan(u, from, dec, d.ports, d.cfg.Now())
	}
	if d.log.Enabled(context.Background(), slog.LevelDebug) {
		d.log.Debug("ovs: miss", "in_port", u.InPort, "src", u.Src.String(), "dst", u.Dst.String(),
			"from", from.String(), "tunnel_src", u.TunSrc.String(), "verdict", int(v), "flow", f.Key.String(), "actions", f.Action.String())
	}
	switch v {
	case vUserspace:
		d.userspace.Add(1) // the frame is dropped: the userspace path carries this traffic
		return
	case vStranger, vForeign:
		d.strangers.Add(1)
		return
	}
	d.mu.Lock()
	if _, had := d.mu.flows.get(f.Key); !had && d.mu.flows.len() >= d.cfg.MaxFlows {
		d.mu.Unlock()
		d.full.Add(1)
		d.logLimited("ovs: flow table full; the frame stays on the userspace path", "max_flows", d.cfg.MaxFlows)
		return
	}
	if d.mu.closed || d.mu.gen != gen {
		// An Update invalidated flows while we decided: the decision may
		// rest on a MAC or a link that is gone. Install nothing; the next
		// frame misses again and is decided afresh.
		d.mu.Unlock()
		d.stale.Add(1)
		return
	}
	err := d.mu.dp.CreateFlow(odpSpec(f.Key, f.Action))
	if err == nil || err == odp.NetlinkError(syscall.EEXIST) {
		if _, had := d.mu.flows.get(f.Key); !had {
			d.installed.Add(1)
		}
		d.mu.flows.add(f)
	}
	d.mu.Unlock()
	if err != nil && err != odp.NetlinkError(syscall.EEXIST) {
		d.errs.Add(1)
		d.logLimited("ovs: install flow", "flow", f.Key.String(), "err", err)
	}
	if err := d.exec.Execute(u.Packet, f.Key.odpKeys(), f.Action.odpActions()); err != nil {
		d.errs.Add(1)
		d.logLimited("ovs: execute missed frame", "err", err)
	}
}

func (d *Datapath) logLimited(msg string, args ...any) {
	if ok, suppressed := d.limit.Allow(); ok {
		if suppressed > 0 {
			args = append(args, "suppressed", suppressed)
		}
		d.log.Warn(msg, args...)
	}
}

// Update implements kernel.Datapath: it makes the static FDB entries on
// the bridge port match v, then removes the flows v invalidates (those
// whose source or destination MAC moved or was forgotten, and those that
// depend on a peer whose link changed address or state for the worse).
func (d *Datapath) Update(v *kernel.View) error {
	want := vxlan.Desired(v)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return errors.New("ovs: closed")
	}
	var errs []error
	if d.mu.updates++; d.mu.updates%20 == 0 {
		if err := d.ensureTAPEntry(); err != nil {
			errs = append(errs, err)
		}
	}
	keys := invalidated(d.mu.view, v, d.mu.flows)
	if len(keys) > 0 {
		d.mu.gen++
	}
	// The bridge entries first: a MAC withdrawn from the fast path goes
	// back to the TAP (the userspace path) at once, before its flows go.
	if err := d.applyFDBLocked(want); err != nil {
		errs = append(errs, err)
	}
	for _, k := range keys {
		if err := d.deleteFlowLocked(k); err != nil {
			errs = append(errs, err)
		}
	}
	d.mu.view = v
	addrs := map[netip.Addr]frame.PeerName{}
	if v != nil {
		for p, l := range v.Links {
			if l.State != kernel.LinkOff && l.Addr.IsValid() {
				addrs[l.Addr.Unmap()] = p
			}
		}
	}
	d.mu.addrs = addrs
	return errors.Join(errs...)
}

// deleteFlowLocked deletes one flow from the kernel and the table.
func (d *Datapath) deleteFlowLocked(k flowKey) error {
	err := d.mu.dp.DeleteFlow(k.odpKeys())
	if err != nil && !odp.IsNoSuchFlowError(err) {
		d.errs.Add(1)
		return fmt.Errorf("ovs: delete flow %s: %w", k, err)
	}
	if d.mu.flows.remove(k) {
		d.removed.Add(1)
	}
	return nil
}

// applyFDBLocked makes the static entries on the bridge port match want.
func (d *Datapath) applyFDBLocked(want vxlan.Spec) error {
	ix := d.brPort.Attrs().Index
	ns, err := d.nl.NeighList(ix, unix.AF_BRIDGE)
	if err != nil {
		d.errs.Add(1)
		return fmt.Errorf("ovs: list FDB of %s: %w", d.names.BridgePort, err)
	}
	cur := map[frame.MAC]bool{}
	for _, n := range ns {
		if len(n.HardwareAddr) == 6 && n.Flags&netlink.NTF_SELF == 0 && n.State&netlink.NUD_PERMANENT == 0 {
			cur[frame.MAC(n.HardwareAddr)] = true
		}
	}
	var errs []error
	for _, m := range fdbDeletes(cur, want) {
		if err := d.nl.NeighDel(fdbEntry(ix, m)); err != nil && !errors.Is(err, unix.ENOENT) {
			d.errs.Add(1)
			errs = append(errs, fmt.Errorf("ovs: delete bridge entry %s: %w", m, err))
		}
	}
	for _, m := range fdbAdds(cur, want) {
		if err := d.nl.NeighSet(fdbEntry(ix, m)); err != nil {
			d.errs.Add(1)
			errs = append(errs, fmt.Errorf("ovs: add bridge entry %s: %w", m, err))
			delete(want, m)
		}
	}
	d.mu.fdb = want
	return errors.Join(errs...)
}

// fdbEntry is a static, sticky bridge FDB entry for m on port ix.
func fdbEntry(ix int, m frame.MAC) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: ix, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER | netlink.NTF_STICKY,
		State: netlink.NUD_NOARP, HardwareAddr: m[:]}
}

// routineSweep expires idle flows every SweepInterval until Close.
func (d *Datapath) routineSweep() {
	defer d.wg.Done()
	t := time.NewTicker(d.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-d.done:
			return
		case <-t.C:
			if _, err := d.sweep(); err != nil {
				d.logLimited("ovs: sweeping flows", "err", err)
			}
		}
	}
}

// sweep dumps the datapath's flows, records which carried packets since
// the last sweep, and deletes those idle for IdleTimeout and any flow the
// table does not know (a leftover, or one that lost a race with an
// Update). It returns how many idle flows it deleted.
func (d *Datapath) sweep() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.mu.closed {
		return 0, nil
	}
	infos, err := d.mu.dp.EnumerateFlows()
	if err != nil {
		d.errs.Add(1)
		return 0, fmt.Errorf("ovs: dump flows: %w", err)
	}
	now := d.cfg.Now()
	seen := make(map[flowKey]bool, len(infos))
	n := 0
	var errs []error
	for _, fi := range infos {
		k, ok := keyFromODP(fi.FlowKeys)
		f, known := d.mu.flows.get(k)
		if !ok || !known {
			if err := d.mu.dp.DeleteFlow(fi.FlowKeys); err != nil && !odp.IsNoSuchFlowError(err) {
				errs = append(errs, fmt.Errorf("ovs: delete unknown flow: %w", err))
			}
			continue
		}
		seen[k] = true
		if f.Peer == frame.UnknownPeer {
			continue // permanent
		}
		if fi.Packets != f.Packets {
			f.Packets, f.Active = fi.Packets, now
			continue
		}
		if now.Sub(f.Active) >= d.cfg.IdleTimeout {
			if err := d.deleteFlowLocked(k); err != nil {
				errs = append(errs, err)
				continue
			}
			d.expired.Add(1)
			n++
		}
	}
	for _, f := range d.mu.flows.all() {
		if !seen[f.Key] { // gone from the kernel behind our back
			d.mu.flows.remove(f.Key)
			d.removed.Add(1)
		}
	}
	return n, errors.Join(errs...)
}

// Stats implements kernel.Datapath: Entries is the number of flows
// installed from misses (not counting the permanent group drop).
func (d *Datapath) Stats() kernel.Stats {
	d.mu.Lock()
	n := d.mu.flows.len() - len(d.mu.flows.byPeer[frame.UnknownPeer])
	d.mu.Unlock()
	return kernel.Stats{Entries: n, Installed: d.installed.Load(), Removed: d.removed.Load(),
		Misses: d.misses.Load(), Errors: d.errs.Load()}
}

// Counters are the backend's own counters beyond kernel.Stats.
type Counters struct {
	// Expired: flows deleted for idleness. Userspace: misses the Decider
	// left to userspace (no flow). Strangers: misses from an unknown
	// tunnel source, VNI or port. Stale: decisions not installed because
	// an Update invalidated flows meanwhile. Full: decisions not
	// installed because the table held MaxFlows.
	Expired, Userspace, Strangers, Stale, Full uint64
}

// Counters returns the backend's own counters.
func (d *Datapath) Counters() Counters {
	return Counters{Expired: d.expired.Load(), Userspace: d.userspace.Load(), Strangers: d.strangers.Load(),
		Stale: d.stale.Load(), Full: d.full.Load()}
}

// Entries implements kernel.Datapath: this router's heartbeat entry, the
// bridge entries and the flows.
func (d *Datapath) Entries() []kernel.Entry {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := []kernel.Entry{{Kind: kernel.KindHeartbeat, MAC: d.hbMAC, Peer: d.env.Self, Detail: d.env.TAP}}
	fdb := d.mu.fdb.Entries()
	for i := range fdb {
		fdb[i].Detail = d.names.BridgePort
	}
	out = append(out, fdb...)
	for _, f := range d.mu.flows.all() {
		if f.Peer == frame.UnknownPeer {
			continue
		}
		e := kernel.Entry{Kind: kernel.KindFlow, MAC: f.Key.Dst, Peer: f.Peer, Used: f.Active,
			Detail: f.Key.String() + " actions:" + f.Action.String()}
		if f.Action.Tunnel {
			e.Addr = f.Action.TunDst
		} else {
			e.Addr = f.Key.TunSrc
		}
		out = append(out, e)
	}
	return out
}

// Used implements kernel.UsageReporter: for every remote MAC a flow
// sends to, when a sweep last saw that flow carry packets (or its install
// time), so at most SweepInterval old.
func (d *Datapath) Used() map[frame.MAC]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[frame.MAC]time.Time{}
	for _, f := range d.mu.flows.flows {
		if f.Action.Tunnel && f.Active.After(out[f.Key.Dst]) {
			out[f.Key.Dst] = f.Active
		}
	}
	return out
}

// Close implements kernel.Datapath: it stops the goroutines and deletes
// the datapath (with its vports and flows), the veth pair and the
// heartbeat entry on the TAP. It is idempotent.
func (d *Datapath) Close() error {
	d.mu.Lock()
	if d.mu.closed {
		d.mu.Unlock()
		return nil
	}
	d.mu.closed = true
	close(d.done)
	d.mu.Unlock()
	d.upcalls.Close() // unblocks routineMisses
	d.wg.Wait()

	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if err := d.nl.NeighDel(&netlink.Neigh{LinkIndex: d.tapIx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER,
		HardwareAddr: d.hbMAC[:]}); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		errs = append(errs, fmt.Errorf("ovs: delete heartbeat entry: %w", err))
	}
	if err := d.mu.dp.Delete(); err != nil {
		errs = append(errs, fmt.Errorf("ovs: delete datapath %s: %w", d.names.Datapath, err))
	}
	if err := d.nl.LinkDel(d.brPort); err != nil && !errors.Is(err, unix.ENODEV) {
		errs = append(errs, fmt.Errorf("ovs: delete %s: %w", d.names.BridgePort, err))
	}
	d.execDpif.Close()
	d.mu.dpif.Close()
	d.mu.ctl.Close()
	d.nl.Close()
	d.mu.flows = newFlowTable()
	d.mu.fdb = vxlan.Spec{}
	return errors.Join(errs...)
}

// setBrportFlag sets a boolean bridge port attribute (IFLA_PROTINFO) that
// vishvananda/netlink has no setter for, in the calling thread's
// namespace.
func setBrportFlag(ix, attr int, on bool) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
	msg.Index = int32(ix)
	req.AddData(msg)
	v := byte(0)
	if on {
		v = 1
	}
	pi := nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)
	pi.AddRtAttr(attr, []byte{v})
	req.AddData(pi)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
