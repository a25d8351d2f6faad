package isolation

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// hostState is what the Service keeps in the data directory while it
// runs, so that a router that crashed or was killed finds its
// containers' rules, exposed addresses and forwardings again on the next
// start instead of leaving the ports it had filtered open, and the IPv4
// forwarding to restore. A clean shutdown removes the file (it removes
// the ports and addresses too, and restores forwarding).
type hostState struct {
	Ports    []portState       `json:"ports"`
	Exposed  []Exposed         `json:"exposed"`
	Keys     map[string]string `json:"expose_keys"`
	Forwards []Forward         `json:"services"`
	// IPForward is IPv4 forwarding before NAT needed it on ("0" or
	// "1"); empty while no NAT rule needs it.
	IPForward string `json:"ip_forward_before,omitempty"`
}

type portState struct {
	Ifname  string         `json:"ifname"`
	MAC     string         `json:"mac"`
	Addrs   []netip.Addr   `json:"addrs"`
	Subnets []netip.Prefix `json:"subnets"`
}

// saveLocked writes the state file atomically. s.mu is held.
func (s *Service) saveLocked() error {
	if s.file == "" {
		return nil
	}
	var st hostState
	for _, p := range s.ports {
		st.Ports = append(st.Ports, portState{p.Ifname, p.MAC.String(), p.Addrs, p.Subnets})
	}
	st.Exposed, st.Forwards, st.IPForward = s.exposed, s.forwards, s.fwdPrev
	st.Keys = map[string]string{}
	for p, k := range s.exposeKeys {
		st.Keys[p.String()] = k
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.file, b, 0o600); err != nil {
		return fmt.Errorf("save host side state: %w", err)
	}
	return nil
}

// loadLocked reads the state an earlier run left, keeping only the ports
// whose veth still exists, and gives the bridge its exposed addresses
// back. s.mu is held.
func (s *Service) loadLocked() error {
	if s.file == "" {
		return nil
	}
	b, err := os.ReadFile(s.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st hostState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("%s: %w", s.file, err)
	}
	for _, p := range st.Ports {
		mac, err := frame.ParseMAC(p.MAC)
		if err != nil || !host.LinkExists(p.Ifname) {
			continue
		}
		s.ports[p.Ifname] = Port{Ifname: p.Ifname, MAC: mac, Addrs: p.Addrs, Subnets: p.Subnets}
	}
	s.exposed, s.forwards = st.Exposed, st.Forwards
	if st.IPForward == "0" || st.IPForward == "1" {
		s.fwdPrev = st.IPForward
	}
	for ps, k := range st.Keys {
		if p, err := netip.ParsePrefix(ps); err == nil {
			s.exposeKeys[p] = k
		}
	}
	for _, e := range s.exposed {
		if err := host.AddBridgeAddr(s.cfg.Bridge, e.Addr); err != nil {
			return err
		}
	}
	return nil
}
