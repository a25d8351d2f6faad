package reset

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/docker/plugin"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/isolation"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/ovs"
	"github.com/weave-switch/weave-switch/kernel/vxlan"
)

// Config says what to remove.
type Config struct {
	// Bridge is the router's bridge (--bridge). Required.
	Bridge string
	// DataDir is the router's data directory (--data-dir); with Data it
	// is removed, else only the host-side state file in it.
	DataDir string
	Data    bool
	// Sockets are the unix sockets the router listens on (the API's,
	// the Docker proxy's and plugin's): each is removed unless something
	// answers on it.
	Sockets []string
	// NFT runs nft; if zero, isolation.NFT{}.
	NFT isolation.NFT
}

// Reset removes what a router on cfg.Bridge left and returns what it
// removed, one line each. Errors of single steps are joined; the other
// steps run regardless.
func Reset(ctx context.Context, cfg Config) (removed []string, err error) {
	if cfg.Bridge == "" {
		return nil, errors.New("reset: no bridge name")
	}
	var errs []error
	note := func(what string, e error) {
		if e != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, e))
			return
		}
		removed = append(removed, what)
	}

	// Links: the containers' veths first (they hang on the bridge), then
	// the fast path's devices, the TAP and the bridge.
	if ports, err := host.BridgePorts(cfg.Bridge); err == nil {
		for _, p := range ports {
			if strings.HasPrefix(p, host.VethPrefix) || strings.HasPrefix(p, host.EndpointVethPrefix) {
				note("veth "+p, host.DeleteLink(p))
			}
		}
	}
	names := []string{vxlan.DeviceName(cfg.Bridge)}
	o := ovs.NamesFor(cfg.Bridge)
	names = append(names, o.VXLAN, o.BridgePort, o.DatapathPort, host.TAPName(cfg.Bridge), cfg.Bridge)
	for _, n := range slices.Compact(names) {
		if host.LinkExists(n) {
			note("link "+n, host.DeleteLink(n))
		}
	}

	// nftables: isolation's bridge and ip tables, the fence's inet table.
	tables := [][2]string{
		{"bridge", isolation.TableName(cfg.Bridge)},
		{"ip", isolation.TableName(cfg.Bridge)},
		{"inet", kernel.FenceTable(cfg.Bridge)},
	}
	for _, t := range tables {
		if !tableExists(ctx, cfg.NFT, t[0], t[1]) {
			continue
		}
		// Declaring the table first makes the delete succeed even if it
		// went away meanwhile.
		script := fmt.Sprintf("table %s %s {}\ndelete table %s %s\n", t[0], t[1], t[0], t[1])
		note("nft table "+t[0]+" "+t[1], cfg.NFT.Apply(ctx, script))
	}

	// The FORWARD rules the Docker plugin puts before dockerd's DROP.
	if _, err := exec.LookPath("iptables"); err == nil {
		if n, err := plugin.ForwardRules(cfg.Bridge); err == nil && n > 0 {
			note(fmt.Sprintf("iptables FORWARD rules for %s (%d)", cfg.Bridge, n), plugin.IPTables{}.Remove(cfg.Bridge))
		}
	}

	// The IPv4 forwarding NAT turned on, as the router recorded it.
	if cfg.DataDir != "" {
		prev, err := isolation.SavedIPForward(cfg.DataDir)
		switch {
		case err != nil:
			errs = append(errs, err)
		case prev == "0":
			if cur, _ := host.IPForward(); cur == "1" {
				note("sysctl net.ipv4.ip_forward=1 (set back to 0)", host.RestoreIPForward("0"))
			}
		}
		state := filepath.Join(cfg.DataDir, isolation.StateFile)
		if _, err := os.Stat(state); err == nil {
			note("state file "+state, os.Remove(state))
		}
	}

	for _, s := range cfg.Sockets {
		if s == "" {
			continue
		}
		if _, err := os.Lstat(s); err != nil {
			continue
		}
		if c, err := net.DialTimeout("unix", s, time.Second); err == nil {
			c.Close()
			errs = append(errs, fmt.Errorf("socket %s: something still serves it", s))
			continue
		}
		note("socket "+s, os.Remove(s))
	}

	if cfg.Data && cfg.DataDir != "" {
		if _, err := os.Stat(cfg.DataDir); err == nil {
			note("data directory "+cfg.DataDir, os.RemoveAll(cfg.DataDir))
		}
	}
	return removed, errors.Join(errs...)
}

// tableExists reports whether nft lists the table.
func tableExists(ctx context.Context, n isolation.NFT, family, name string) bool {
	argv := n.Command
	if len(argv) == 0 {
		argv = []string{"nft"}
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return false
	}
	args := append(slices.Clone(argv[1:]), "list", "table", family, name)
	return exec.CommandContext(ctx, argv[0], args...).Run() == nil
}
