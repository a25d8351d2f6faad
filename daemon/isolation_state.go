package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/isolation"
)

// hostState is what the host side keeps in the data directory while it
// runs, so that a router that crashed or was killed finds its containers'
// rules, exposed addresses and services again on the next start instead
// of leaving the ports it had filtered open. A clean shutdown removes
// the file (it removes the ports and addresses too).
type hostState struct {
	Ports []struct {
		Ifname  string         `json:"ifname"`
		MAC     string         `json:"mac"`
		Addrs   []netip.Addr   `json:"addrs"`
		Subnets []netip.Prefix `json:"subnets"`
	} `json:"ports"`
	Allow    [][2]netip.Prefix   `json:"allow"`
	Exposed  []isolation.Exposed `json:"exposed"`
	Keys     map[string]string   `json:"expose_keys"`
	Services []isolation.Service `json:"services"`
}

func stateFile(dataDir string) string { return filepath.Join(dataDir, "host-side.json") }

// saveLocked writes the state file atomically. h.mu is held.
func (h *hostSide) saveLocked() error {
	if h.file == "" {
		return nil
	}
	var st hostState
	for _, p := range h.ports {
		st.Ports = append(st.Ports, struct {
			Ifname  string         `json:"ifname"`
			MAC     string         `json:"mac"`
			Addrs   []netip.Addr   `json:"addrs"`
			Subnets []netip.Prefix `json:"subnets"`
		}{p.Ifname, p.MAC.String(), p.Addrs, p.Subnets})
	}
	st.Exposed, st.Services = h.exposed, h.services
	st.Keys = map[string]string{}
	for p, k := range h.exposeKeys {
		st.Keys[p.String()] = k
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := h.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save host side state: %w", err)
	}
	return os.Rename(tmp, h.file)
}

// loadLocked reads the state an earlier run left, keeping only the ports
// whose veth still exists. h.mu is held.
func (h *hostSide) loadLocked() error {
	b, err := os.ReadFile(h.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st hostState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", h.file, err)
	}
	for _, p := range st.Ports {
		mac, err := frame.ParseMAC(p.MAC)
		if err != nil || !host.LinkExists(p.Ifname) {
			continue
		}
		h.ports[p.Ifname] = isolation.Port{Ifname: p.Ifname, MAC: mac, Addrs: p.Addrs, Subnets: p.Subnets}
	}
	h.exposed, h.services = st.Exposed, st.Services
	for ps, k := range st.Keys {
		if p, err := netip.ParsePrefix(ps); err == nil {
			h.exposeKeys[p] = k
		}
	}
	for _, e := range h.exposed {
		if err := host.AddBridgeAddr(h.bridge, e.Addr); err != nil {
			return err
		}
	}
	return nil
}
