// Command weave-switch-cni is the CNI plugin of weave-switch: a container
// runtime (containerd, CRI-O, podman, cnitool) runs it to put a
// container's network namespace on the weave network. It asks the local
// router, over its API socket, to attach the namespace under a key of the
// runtime's (cni:NETWORK:CONTAINERID:IFNAME), with an address from the
// router's allocator, and answers the runtime with the interfaces,
// addresses, routes and DNS the container got.
//
// Commands: ADD, DEL, CHECK, VERSION, STATUS and GC. DEL succeeds when
// the namespace is gone, and when the router is down (the release is then
// recorded in the pending directory, carried out by the router when it
// starts or by the next ADD or GC). GC releases every address of the
// network whose attachment the runtime no longer lists. STATUS fails
// while the router does not answer.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ns"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/host"
)

// Timeouts of the calls to the router: an ADD may wait for the allocator
// to get space from a peer.
const (
	addTimeout  = 90 * time.Second
	callTimeout = 20 * time.Second
)

func main() {
	runtime.LockOSThread()
	skel.PluginMainFuncs(skel.CNIFuncs{Add: cmdAdd, Del: cmdDel, Check: cmdCheck, GC: cmdGC, Status: cmdStatus},
		version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
		"weave-switch CNI plugin")
}

// call is one CNI call: its configuration, the router's client and the
// log its line goes to.
type call struct {
	cmd  string
	args *skel.CmdArgs
	conf *netConf
	c    *api.Client
	log  *slog.Logger
	done func()
}

// begin decodes the configuration of a call and opens its log.
func begin(cmd string, args *skel.CmdArgs) (*call, error) {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, "invalid network configuration", err.Error())
	}
	cl := &call{cmd: cmd, args: args, conf: conf, c: api.NewClient(conf.socket()), done: func() {}}
	w := os.Stderr
	if conf.LogFile != "" {
		if f, err := os.OpenFile(conf.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			w, cl.done = f, func() { f.Close() }
		}
	}
	cl.log = slog.New(slog.NewTextHandler(w, nil)).With("cni", cmd, "network", conf.Name, "pid", os.Getpid())
	return cl, nil
}

// end logs the call's outcome and closes its log.
func (cl *call) end(err error, attrs ...any) error {
	a := append([]any{"container", cl.args.ContainerID, "netns", cl.args.Netns, "ifname", cl.args.IfName}, attrs...)
	if err != nil {
		cl.log.Error("failed", append(a, "err", err)...)
	} else {
		cl.log.Info("ok", a...)
	}
	cl.done()
	return err
}

// routerError is the CNI error of a failed call to the router: "try
// again later" while it does not answer.
func routerError(what string, err error) error {
	if errors.Is(err, api.ErrNoRouter) || errors.Is(err, os.ErrNotExist) {
		return types.NewError(types.ErrTryAgainLater, "weave-switch router not available", fmt.Sprintf("%s: %v", what, err))
	}
	return types.NewError(types.ErrInternal, what+" failed", err.Error())
}

func cmdAdd(args *skel.CmdArgs) error {
	cl, err := begin("ADD", args)
	if err != nil {
		return err
	}
	res, err := cl.add()
	if err != nil {
		return cl.end(err)
	}
	ips := make([]string, 0, len(res.IPs))
	for _, c := range res.IPs {
		ips = append(ips, c.Address.String())
	}
	if err := types.PrintResult(res, cl.conf.CNIVersion); err != nil {
		return cl.end(err)
	}
	return cl.end(nil, "ips", strings.Join(ips, ","))
}

func (cl *call) add() (*current.Result, error) {
	key, err := cl.conf.key(cl.args.ContainerID, cl.args.IfName)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "invalid container ID or interface name", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), addTimeout)
	defer cancel()
	cl.flushPending(ctx)
	st, err := cl.c.Status(ctx)
	if err != nil {
		return nil, routerError("router status", err)
	}
	netns, err := ns.GetNS(cl.args.Netns)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidNetNS, "cannot open the network namespace", err.Error())
	}
	defer netns.Close()
	// The router opens the namespace through this process's descriptor:
	// the runtime's path may live in a mount namespace the router does
	// not see.
	req := api.AttachRequest{
		NetNS:        fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), netns.Fd()),
		Key:          key,
		IfName:       cl.args.IfName,
		NoResolvConf: true,
	}
	if cl.conf.Subnet != "" {
		req.Subnets = []string{cl.conf.Subnet}
	}
	a, err := cl.c.Attach(ctx, req)
	if err != nil {
		return nil, routerError("attach", err)
	}
	res, err := cl.result(ctx, st, a, netns)
	if err != nil {
		if _, derr := cl.c.Detach(ctx, api.DetachRequest{Key: key}); derr != nil {
			cl.log.Warn("undo attach", "key", key, "err", derr)
		}
		return nil, err
	}
	return res, nil
}

// result describes attachment a to the runtime, after adding the
// default route through the gateway: the bridge's address in the
// container's subnet, if it has one.
func (cl *call) result(ctx context.Context, st api.Status, a api.Attachment, netns ns.NetNS) (*current.Result, error) {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	hostIf := &current.Interface{Name: a.HostVeth}
	if l, ok, err := host.Link("", a.HostVeth); err == nil && ok {
		hostIf.Mac = l.MAC
	}
	res.Interfaces = []*current.Interface{hostIf, {Name: cl.args.IfName, Mac: a.MAC, Mtu: st.MTU, Sandbox: cl.args.Netns}}
	var bridgeAddrs []netip.Addr
	if l, ok, err := host.Link("", st.Bridge); err == nil && ok {
		bridgeAddrs = l.Addrs
	}
	var gw4 net.IP
	for _, p := range a.Addrs {
		c := &current.IPConfig{Interface: current.Int(1), Address: net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		for _, b := range bridgeAddrs {
			if p.Masked().Contains(b) && b != p.Addr() {
				c.Gateway = b.AsSlice()
				break
			}
		}
		if c.Gateway != nil && p.Addr().Is4() && gw4 == nil {
			gw4 = c.Gateway
		}
		res.IPs = append(res.IPs, c)
	}
	if gw4 != nil {
		def := net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}
		res.Routes = append(res.Routes, &types.Route{Dst: def, GW: gw4})
		gw, _ := netip.AddrFromSlice(gw4)
		if err := host.AddDefaultRoute(netns.Path(), cl.args.IfName, gw); err != nil {
			return nil, types.NewError(types.ErrInternal, "cannot add the default route", err.Error())
		}
	}
	if d, err := cl.c.DNSStatus(ctx); err == nil {
		for _, s := range d.Serving {
			ap, err := netip.ParseAddrPort(s)
			if err != nil || ap.Port() != 53 {
				continue
			}
			for _, p := range a.Addrs {
				if p.Masked().Contains(ap.Addr()) {
					res.DNS.Nameservers = append(res.DNS.Nameservers, ap.Addr().String())
				}
			}
		}
		if len(res.DNS.Nameservers) > 0 {
			dom := strings.TrimSuffix(d.Domain, ".")
			res.DNS.Domain, res.DNS.Search = dom, []string{dom}
		}
	}
	return res, nil
}

func cmdDel(args *skel.CmdArgs) error {
	cl, err := begin("DEL", args)
	if err != nil {
		return err
	}
	released, pending, err := cl.del()
	return cl.end(err, "released", released, "pending", pending)
}

// del removes the interface (if the namespace still exists) and asks the
// router to release the key; a router that does not answer gets the
// release recorded in the pending directory instead.
func (cl *call) del() (released []netip.Addr, pending bool, err error) {
	key, err := cl.conf.key(cl.args.ContainerID, cl.args.IfName)
	if err != nil {
		return nil, false, types.NewError(types.ErrInvalidEnvironmentVariables, "invalid container ID or interface name", err.Error())
	}
	if cl.args.Netns != "" {
		if netns, err := ns.GetNS(cl.args.Netns); err == nil {
			derr := host.DeleteLinkIn(netns.Path(), cl.args.IfName)
			netns.Close()
			if derr != nil {
				return nil, false, types.NewError(types.ErrInternal, "cannot delete the interface", derr.Error())
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	resp, err := cl.c.Detach(ctx, api.DetachRequest{Key: key})
	if err == nil {
		return resp.Released, false, nil
	}
	if !errors.Is(err, api.ErrNoRouter) && !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "router API") {
		return nil, false, routerError("detach", err)
	}
	if werr := cl.recordPending(key); werr != nil {
		return nil, false, types.NewError(types.ErrIOFailure, "router down and the release cannot be recorded", fmt.Sprintf("%v; %v", err, werr))
	}
	return nil, true, nil
}

// recordPending writes the release of key into the pending directory.
func (cl *call) recordPending(key string) error {
	dir := cl.conf.stateDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	p := filepath.Join(dir, attach.PendingName(key))
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(key+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// flushPending asks the router for the releases recorded while it was
// down, and removes the files of those it carried out.
func (cl *call) flushPending(ctx context.Context) {
	dir := cl.conf.stateDir()
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range ents {
		if !strings.HasSuffix(de.Name(), ".release") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		key, err := attach.ParsePending(b)
		if err == nil {
			if _, err = cl.c.Detach(ctx, api.DetachRequest{Key: key}); err != nil {
				return // the router is down, or refuses: the file stays
			}
			cl.log.Info("pending release carried out", "key", key)
		}
		_ = os.Remove(p)
	}
}

func cmdCheck(args *skel.CmdArgs) error {
	cl, err := begin("CHECK", args)
	if err != nil {
		return err
	}
	return cl.end(cl.check())
}

// check compares the previous result with the interface in the
// namespace and with the router's allocation of the key.
func (cl *call) check() error {
	key, err := cl.conf.key(cl.args.ContainerID, cl.args.IfName)
	if err != nil {
		return types.NewError(types.ErrInvalidEnvironmentVariables, "invalid container ID or interface name", err.Error())
	}
	if err := version.ParsePrevResult(&cl.conf.PluginConf); err != nil {
		return types.NewError(types.ErrDecodingFailure, "cannot decode prevResult", err.Error())
	}
	if cl.conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "CHECK without prevResult", "")
	}
	prev, err := current.NewResultFromResult(cl.conf.PrevResult)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, "cannot convert prevResult", err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	st, err := cl.c.Status(ctx)
	if err != nil {
		return routerError("router status", err)
	}
	if st.IPAM == nil {
		return types.NewError(types.ErrInternal, "the router has no address allocator", "")
	}
	var have []netip.Addr
	for _, al := range st.IPAM.Allocations {
		if al.Key == key {
			have = al.Addrs
		}
	}
	var ips []*current.IPConfig
	for _, c := range prev.IPs {
		a, _ := netip.AddrFromSlice(c.Address.IP)
		if !slices.Contains(have, a.Unmap()) {
			return types.NewError(types.ErrInternal, "address not allocated to the container", fmt.Sprintf("%s is not allocated to %s (router has %v)", a, key, have))
		}
		ips = append(ips, c)
	}
	netns, err := ns.GetNS(cl.args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, "cannot open the network namespace", err.Error())
	}
	defer netns.Close()
	l, ok, err := host.Link(netns.Path(), cl.args.IfName)
	switch {
	case err != nil:
		return types.NewError(types.ErrInternal, "cannot look at the interface", err.Error())
	case !ok:
		return types.NewError(types.ErrInternal, "interface missing", cl.args.IfName)
	case !l.Up:
		return types.NewError(types.ErrInternal, "interface down", cl.args.IfName)
	}
	return netns.Do(func(ns.NetNS) error {
		if err := ip.ValidateExpectedInterfaceIPs(cl.args.IfName, ips); err != nil {
			return types.NewError(types.ErrInternal, "interface addresses differ", err.Error())
		}
		if err := ip.ValidateExpectedRoute(prev.Routes); err != nil {
			return types.NewError(types.ErrInternal, "routes differ", err.Error())
		}
		return nil
	})
}

func cmdGC(args *skel.CmdArgs) error {
	cl, err := begin("GC", args)
	if err != nil {
		return err
	}
	released, err := cl.gc()
	return cl.end(err, "valid", len(cl.conf.ValidAttachments), "released_keys", released)
}

// gc releases every attachment of the network that the runtime does not
// list as valid.
func (cl *call) gc() ([]string, error) {
	keep := map[string]bool{}
	for _, v := range cl.conf.ValidAttachments {
		if k, err := cl.conf.key(v.ContainerID, v.IfName); err == nil {
			keep[k] = true
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	cl.flushPending(ctx)
	st, err := cl.c.Status(ctx)
	if err != nil {
		return nil, routerError("router status", err)
	}
	if st.IPAM == nil {
		return nil, nil
	}
	var released []string
	for _, al := range st.IPAM.Allocations {
		if !strings.HasPrefix(al.Key, cl.conf.keyPrefix()) || keep[al.Key] {
			continue
		}
		if _, err := cl.c.Detach(ctx, api.DetachRequest{Key: al.Key}); err != nil {
			return released, routerError("detach "+al.Key, err)
		}
		released = append(released, al.Key)
	}
	return released, nil
}

func cmdStatus(args *skel.CmdArgs) error {
	cl, err := begin("STATUS", args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	st, err := cl.c.Status(ctx)
	switch {
	case err != nil:
		err = types.NewError(types.ErrPluginNotAvailable, "weave-switch router not available", err.Error())
	case st.IPAM != nil && st.IPAM.State != "ready":
		err = types.NewError(types.ErrPluginNotAvailable, "address allocator not ready", st.IPAM.State)
	}
	return cl.end(err)
}
