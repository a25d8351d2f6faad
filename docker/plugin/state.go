package plugin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// state is what the driver keeps across restarts of the router: dockerd
// tells a driver about a network once, when it is created, and later
// calls name it by ID only.
type state struct {
	// Networks by docker network ID.
	Networks map[string]network `json:"networks"`
	// Gateways are the addresses this driver exposed, by subnet: hidden
	// when the subnet's last network goes. An address exposed by someone
	// else ('weave-switch expose') is used as a gateway but not listed.
	Gateways map[netip.Prefix]gateway `json:"gateways"`
	// Endpoints by endpoint ID.
	Endpoints map[string]endpoint `json:"endpoints"`
}

type network struct {
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Prefix `json:"gateway"`
}

// gateway is an exposed address and how it was asked for: a subnet spec
// (allocated, found again under the same key) or, without one, the
// explicit address.
type gateway struct {
	Addr netip.Prefix `json:"addr"`
	Spec string       `json:"spec,omitempty"`
}

type endpoint struct {
	Network string `json:"network"`
	// Extra are the addresses of the docker.ExtraOpt driver option (also
	// in Endpoint.Addrs), and Claimed the allocator keys this driver
	// claimed them under (released with the endpoint).
	Extra   []netip.Prefix `json:"extra,omitempty"`
	Claimed []string       `json:"claimed,omitempty"`
	attach.Endpoint
}

func newState() state {
	return state{Networks: map[string]network{}, Gateways: map[netip.Prefix]gateway{}, Endpoints: map[string]endpoint{}}
}

// loadState reads the state file; a missing file (or none configured) is
// the empty state.
func loadState(path string) (state, error) {
	st := newState()
	if path == "" {
		return st, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return newState(), fmt.Errorf("%s: %w", path, err)
	}
	if st.Networks == nil {
		st.Networks = map[string]network{}
	}
	if st.Gateways == nil {
		st.Gateways = map[netip.Prefix]gateway{}
	}
	if st.Endpoints == nil {
		st.Endpoints = map[string]endpoint{}
	}
	return st, nil
}

// saveLocked writes the state file atomically. s.mu is held.
func (s *Service) saveLocked() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	b, err := json.Marshal(s.st)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(s.cfg.StateFile, b, 0o600); err != nil {
		return fmt.Errorf("save docker plugin state: %w", err)
	}
	return nil
}

// update changes the state and saves it; a failed save restores the
// state as it was.
func (s *Service) update(change func(st *state)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.st.clone()
	change(&s.st)
	if err := s.saveLocked(); err != nil {
		s.st = old
		return err
	}
	return nil
}

func (st state) clone() state {
	out := newState()
	for k, v := range st.Networks {
		out.Networks[k] = v
	}
	for k, v := range st.Gateways {
		out.Gateways[k] = v
	}
	for k, v := range st.Endpoints {
		out.Endpoints[k] = v
	}
	return out
}

// snapshot is a copy of the state, for reading without the lock.
func (s *Service) snapshot() state {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.clone()
}
