package vxlan

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
)

// userHZ is the unit of the kernel's neighbour cache times (clock_t).
const userHZ = 100

// DeviceName is the vxlan device's name for a bridge: <bridge>-vx, the
// bridge name cut to fit 15 characters.
func DeviceName(bridge string) string {
	const suffix = "-vx"
	if len(bridge)+len(suffix) > 15 {
		bridge = bridge[:15-len(suffix)]
	}
	return bridge + suffix
}

// Datapath is the vxlan backend. Update is called from one goroutine;
// Stats, Entries and Close are safe concurrently with it.
type Datapath struct {
	env   kernel.Env
	name  string
	vx    netlink.Link
	tapIx int
	hbMAC frame.MAC

	mu      sync.Mutex
	applied Spec
	used    map[frame.MAC]time.Time
	updates int
	closed  bool

	installed, removed, errs atomic.Uint64
}

var (
	_ kernel.Datapath      = (*Datapath)(nil)
	_ kernel.UsageReporter = (*Datapath)(nil)
)

// New creates the vxlan device on env.Bridge (replacing a leftover one of
// the same name) and the heartbeat entry on env.TAP. On error it removes
// what it created.
func New(env kernel.Env) (_ *Datapath, err error) {
	if env.Port == 0 {
		env.Port = kernel.DefaultPort
	}
	if env.VNI == 0 {
		env.VNI = kernel.DefaultVNI
	}
	br, err := netlink.LinkByName(env.Bridge)
	if err != nil {
		return nil, fmt.Errorf("vxlan: bridge %s: %w", env.Bridge, err)
	}
	tap, err := netlink.LinkByName(env.TAP)
	if err != nil {
		return nil, fmt.Errorf("vxlan: TAP %s: %w", env.TAP, err)
	}
	d := &Datapath{env: env, name: DeviceName(env.Bridge), tapIx: tap.Attrs().Index, hbMAC: kernel.HeartbeatMAC(env.Self),
		applied: Spec{}, used: map[frame.MAC]time.Time{}}
	if old, err := netlink.LinkByName(d.name); err == nil {
		if err := netlink.LinkDel(old); err != nil {
			return nil, fmt.Errorf("vxlan: remove leftover %s: %w", d.name, err)
		}
	}
	mtu := env.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	vx := &netlink.Vxlan{
		LinkAttrs: netlink.LinkAttrs{Name: d.name, MTU: mtu, MasterIndex: br.Attrs().Index},
		VxlanId:   int(env.VNI),
		Port:      int(env.Port),
		Learning:  false,
	}
	if env.Local.IsValid() {
		vx.SrcAddr = net.IP(env.Local.AsSlice())
	}
	if err := netlink.LinkAdd(vx); err != nil {
		return nil, fmt.Errorf("vxlan: create %s (UDP %d): %w", d.name, env.Port, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = netlink.LinkDel(vx)
		}
	}()
	link, err := netlink.LinkByName(d.name)
	if err != nil {
		return nil, fmt.Errorf("vxlan: %w", err)
	}
	d.vx = link
	if link.Attrs().MasterIndex != br.Attrs().Index {
		if err := netlink.LinkSetMaster(link, br); err != nil {
			return nil, fmt.Errorf("vxlan: %s into bridge %s: %w", d.name, env.Bridge, err)
		}
	}
	if err := netlink.LinkSetLearning(link, false); err != nil {
		return nil, fmt.Errorf("vxlan: bridge learning off on %s: %w", d.name, err)
	}
	if err := netlink.LinkSetFlood(link, false); err != nil {
		return nil, fmt.Errorf("vxlan: unknown-unicast flooding off on %s: %w", d.name, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("vxlan: up %s: %w", d.name, err)
	}
	if err := d.ensureTAPEntry(); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// Name implements kernel.Datapath.
func (d *Datapath) Name() string { return kernel.ModeVXLAN }

// Device returns the vxlan device's name.
func (d *Datapath) Device() string { return d.name }

func (d *Datapath) ensureTAPEntry() error {
	err := netlink.NeighSet(&netlink.Neigh{
		LinkIndex: d.tapIx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER,
		State: netlink.NUD_NOARP, HardwareAddr: net.HardwareAddr(d.hbMAC[:]),
	})
	if err != nil {
		return fmt.Errorf("vxlan: heartbeat entry %s on %s: %w", d.hbMAC, d.env.TAP, err)
	}
	return nil
}

// current lists the entries on the vxlan port.
func (d *Datapath) current() (Current, map[frame.MAC]time.Time, error) {
	ns, err := netlink.NeighList(d.vx.Attrs().Index, unix.AF_BRIDGE)
	if err != nil {
		return Current{}, nil, fmt.Errorf("vxlan: list FDB of %s: %w", d.name, err)
	}
	cur := Current{Bridge: map[frame.MAC]bool{}, VXLAN: map[frame.MAC]netip.Addr{}}
	used := map[frame.MAC]time.Time{}
	now := time.Now()
	for _, n := range ns {
		if len(n.HardwareAddr) != 6 {
			continue
		}
		m := frame.MAC(n.HardwareAddr)
		switch {
		case n.Flags&netlink.NTF_SELF != 0:
			if m.IsZero() {
				continue
			}
			a, _ := netip.AddrFromSlice(n.IP)
			cur.VXLAN[m] = a.Unmap()
			used[m] = now.Add(-time.Duration(n.Used) * time.Second / userHZ)
		case n.State&netlink.NUD_PERMANENT != 0:
			// the port's own address: not ours to manage
		default:
			cur.Bridge[m] = true
		}
	}
	return cur, used, nil
}

// Update implements kernel.Datapath.
func (d *Datapath) Update(v *kernel.View) error {
	want := Desired(v)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("vxlan: closed")
	}
	var errs []error
	if d.updates++; d.updates%20 == 0 {
		if err := d.ensureTAPEntry(); err != nil {
			errs = append(errs, err)
		}
	}
	cur, used, err := d.current()
	if err != nil {
		d.errs.Add(1)
		return err
	}
	plan := Reconcile(cur, want)
	ix := d.vx.Attrs().Index
	fail := func(err error) {
		d.errs.Add(1)
		errs = append(errs, err)
	}
	for _, m := range plan.DelBridge {
		if err := netlink.NeighDel(bridgeNeigh(ix, m)); err != nil && !errors.Is(err, unix.ENOENT) {
			fail(fmt.Errorf("vxlan: delete bridge entry %s: %w", m, err))
		} else {
			d.removed.Add(1)
		}
	}
	for _, m := range plan.DelVXLAN {
		if err := netlink.NeighDel(&netlink.Neigh{LinkIndex: ix, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			HardwareAddr: net.HardwareAddr(m[:]), IP: net.IP(cur.VXLAN[m].AsSlice())}); err != nil && !errors.Is(err, unix.ENOENT) {
			fail(fmt.Errorf("vxlan: delete vxlan entry %s: %w", m, err))
		}
	}
	for _, m := range plan.SetVXLAN {
		w := want[m]
		if err := netlink.NeighSet(&netlink.Neigh{LinkIndex: ix, Family: unix.AF_BRIDGE, Flags: netlink.NTF_SELF,
			State: netlink.NUD_PERMANENT | netlink.NUD_NOARP, HardwareAddr: net.HardwareAddr(m[:]), IP: net.IP(w.Dst.AsSlice())}); err != nil {
			fail(fmt.Errorf("vxlan: set vxlan entry %s -> %s: %w", m, w.Dst, err))
			delete(want, m) // no bridge entry without its vxlan entry
		}
	}
	for _, m := range plan.AddBridge {
		if _, ok := want[m]; !ok {
			continue
		}
		if err := netlink.NeighSet(bridgeNeigh(ix, m)); err != nil {
			fail(fmt.Errorf("vxlan: add bridge entry %s: %w", m, err))
			delete(want, m)
			continue
		}
		d.installed.Add(1)
	}
	d.applied = want
	d.used = used
	return errors.Join(errs...)
}

func bridgeNeigh(ix int, m frame.MAC) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: ix, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER | netlink.NTF_STICKY,
		State: netlink.NUD_NOARP, HardwareAddr: net.HardwareAddr(m[:])}
}

// Stats implements kernel.Datapath.
func (d *Datapath) Stats() kernel.Stats {
	d.mu.Lock()
	n := 0
	for _, w := range d.applied {
		if w.Kind == kernel.KindMAC {
			n++
		}
	}
	d.mu.Unlock()
	return kernel.Stats{Entries: n, Installed: d.installed.Load(), Removed: d.removed.Load(), Errors: d.errs.Load()}
}

// Entries implements kernel.Datapath: the applied Spec, with when the
// kernel last used each vxlan entry, and this router's own heartbeat
// entry on the TAP.
func (d *Datapath) Entries() []kernel.Entry {
	d.mu.Lock()
	out := d.applied.Entries()
	for i := range out {
		out[i].Detail = d.name
		out[i].Used = d.used[out[i].MAC]
	}
	d.mu.Unlock()
	return append([]kernel.Entry{{Kind: kernel.KindHeartbeat, MAC: d.hbMAC, Peer: d.env.Self, Detail: d.env.TAP}}, out...)
}

// Used returns when the kernel last sent to each offloaded MAC, as of the
// last Update.
func (d *Datapath) Used() map[frame.MAC]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[frame.MAC]time.Time, len(d.used))
	for m, t := range d.used {
		if d.applied[m].Kind == kernel.KindMAC {
			out[m] = t
		}
	}
	return out
}

// Close implements kernel.Datapath: it deletes the vxlan device (and so
// every entry on it) and the heartbeat entry on the TAP.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	d.applied = Spec{}
	var errs []error
	err := netlink.NeighDel(&netlink.Neigh{LinkIndex: d.tapIx, Family: unix.AF_BRIDGE, Flags: netlink.NTF_MASTER,
		HardwareAddr: net.HardwareAddr(d.hbMAC[:])})
	if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) {
		errs = append(errs, fmt.Errorf("vxlan: delete heartbeat entry: %w", err))
	}
	if err := netlink.LinkDel(d.vx); err != nil && !errors.Is(err, unix.ENODEV) {
		errs = append(errs, fmt.Errorf("vxlan: delete %s: %w", d.name, err))
	}
	return errors.Join(errs...)
}
