package watch

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/weave-switch/weave-switch/docker"
)

// DNS is the router's name registry, as the watcher feeds it
// (dns.Service has it): each running container on the weave network is
// known by its Docker name.
type DNS interface {
	// CheckName reports whether name can be registered.
	CheckName(name string) error
	// SetNames makes names (each for every one of addrs) the only names
	// of key; no names or no addresses drop key's names.
	SetNames(key string, names []string, addrs []netip.Addr) error
	// Keys lists the keys this router has names under.
	Keys() []string
}

// nameKeySuffix ends the registry key of a container's Docker names:
// the attach service registers the names it is given under the
// container's own key, and the two sets are kept apart.
const nameKeySuffix = "#docker"

// NameKey is the registry key of the Docker names of container id.
func NameKey(id string) string { return docker.ContainerKey(id) + nameKeySuffix }

// nameKeyID is the container ID in a NameKey.
func nameKeyID(key string) (string, bool) {
	k, ok := strings.CutSuffix(key, nameKeySuffix)
	if !ok {
		return "", false
	}
	return docker.ContainerID(k)
}

// containerNames are the names a container is registered under: its
// Docker name (without the leading '/'), and its hostname when that is a
// fully qualified name in the domain. Names the registry does not take
// are left out.
func containerNames(n DNS, c container.InspectResponse) []string {
	var out []string
	if name := strings.TrimPrefix(c.Name, "/"); name != "" && n.CheckName(name) == nil {
		out = append(out, name)
	}
	if cfg := c.Config; cfg != nil {
		h := cfg.Hostname
		if cfg.Domainname != "" {
			h += "." + cfg.Domainname
		}
		if strings.Contains(h, ".") && n.CheckName(h+".") == nil && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// weaveAddrs are the addresses of a container on the router's networks:
// its endpoints on networks of the router's driver, and the addresses
// this router allocated under its key (the API proxy's, and an attach by
// name).
func (s *Service) weaveAddrs(ctx context.Context, c container.InspectResponse) []netip.Addr {
	var out []netip.Addr
	add := func(a netip.Addr) {
		if a.IsValid() && !a.IsUnspecified() && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	if ns := c.NetworkSettings; ns != nil {
		for name, ep := range ns.Networks {
			if ep == nil || !s.ourNetwork(ctx, cmpOr(ep.NetworkID, name)) {
				continue
			}
			add(ep.IPAddress)
			add(ep.GlobalIPv6Address)
		}
	}
	if st := s.cfg.Addresses.Status(); st != nil {
		key := docker.ContainerKey(c.ID)
		for _, a := range st.Allocations {
			if a.Key == key {
				for _, ad := range a.Addrs {
					add(ad)
				}
			}
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ourNetwork reports whether the Docker network id is on the router's
// driver. Answers are kept: a network's driver never changes.
func (s *Service) ourNetwork(ctx context.Context, id string) bool {
	s.mu.Lock()
	ours, known := s.drivers[id]
	s.mu.Unlock()
	if known {
		return ours
	}
	r, err := s.cfg.Docker.NetworkInspect(ctx, id, client.NetworkInspectOptions{})
	if err != nil {
		s.log.Debug("network not inspected", "network", id, "err", err)
		return false
	}
	ours = r.Network.Driver == docker.DriverName
	s.mu.Lock()
	s.drivers[id] = ours
	s.mu.Unlock()
	return ours
}

// registerNames registers the Docker names of the running container id
// for its weave addresses, or drops them when it has none (or is not
// running).
func (s *Service) registerNames(ctx context.Context, id string) {
	if s.cfg.Names == nil {
		return
	}
	r, err := s.cfg.Docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if errdefs.IsNotFound(err) {
		s.unregisterNames(id)
		return
	}
	if err != nil {
		s.log.Warn("container not inspected: its names are not registered", "id", id, "err", err)
		return
	}
	c := r.Container
	var names []string
	var addrs []netip.Addr
	if c.State != nil && c.State.Running {
		names, addrs = containerNames(s.cfg.Names, c), s.weaveAddrs(ctx, c)
	}
	if len(names) == 0 || len(addrs) == 0 {
		s.unregisterNames(id)
		return
	}
	if err := s.cfg.Names.SetNames(NameKey(c.ID), names, addrs); err != nil {
		s.log.Warn("container names not registered", "container", strings.TrimPrefix(c.Name, "/"), "names", names, "err", err)
		return
	}
	s.log.Debug("container names registered", "container", strings.TrimPrefix(c.Name, "/"), "names", names, "addrs", addrs)
}

// unregisterNames drops the Docker names of container id.
func (s *Service) unregisterNames(id string) {
	if s.cfg.Names == nil {
		return
	}
	if err := s.cfg.Names.SetNames(NameKey(id), nil, nil); err != nil {
		s.log.Warn("container names not removed", "id", id, "err", err)
	}
}

// reconcileNames registers the names of every running container and
// drops those of containers that are not running or gone.
func (s *Service) reconcileNames(ctx context.Context, list []container.Summary) error {
	if s.cfg.Names == nil {
		return nil
	}
	running := map[string]bool{}
	for _, c := range list {
		if c.State == container.StateRunning {
			running[c.ID] = true
		}
	}
	var errs []error
	for _, key := range s.cfg.Names.Keys() {
		if id, ok := nameKeyID(key); ok && !running[id] {
			if err := s.cfg.Names.SetNames(key, nil, nil); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for id := range running {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.registerNames(ctx, id)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("names of containers gone: %w", err)
	}
	return nil
}
