package dns

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
)

// Nicknames gives the peers' nicknames for status; *mesh.Mesh has it.
type Nicknames interface {
	Nicknames() map[frame.PeerName]string
}

// SetNicknames tells the Service where to find the peers' nicknames
// (the mesh, built after the Service).
func (s *Service) SetNicknames(n Nicknames) { s.nicks.Store(&n) }

// DNSAdd implements api.DNSBackend.DNSAdd: dns-add IP... NAME.
func (s *Service) DNSAdd(_ context.Context, req api.DNSRequest) (api.DNSResponse, error) {
	name, err := CanonicalName(req.Name, s.domain)
	if err != nil {
		return api.DNSResponse{}, &api.BadRequestError{Err: fmt.Errorf("dns-add: %w", err)}
	}
	if len(req.Addrs) == 0 {
		return api.DNSResponse{}, &api.BadRequestError{Err: errors.New("dns-add: no address")}
	}
	for _, a := range req.Addrs {
		if err := checkAddr(a); err != nil {
			return api.DNSResponse{}, &api.BadRequestError{Err: fmt.Errorf("dns-add: %w", err)}
		}
	}
	before := s.reg.localLen()
	if err := s.reg.Add(ManualKey, name, req.Addrs); err != nil {
		if errors.Is(err, ErrFull) {
			err = &api.BadRequestError{Err: err}
		}
		return api.DNSResponse{}, err
	}
	n := s.reg.localLen() - before
	s.log.Info("dns: names added", "name", name, "addrs", req.Addrs, "new", n)
	return api.DNSResponse{Name: name, Changed: n}, nil
}

// DNSRemove implements api.DNSBackend.DNSRemove: dns-remove IP...
// [NAME]. Entries other routers own are theirs to remove: asking to
// remove only those is an error that names the owner.
func (s *Service) DNSRemove(_ context.Context, req api.DNSRequest) (api.DNSResponse, error) {
	if len(req.Addrs) == 0 {
		return api.DNSResponse{}, &api.BadRequestError{Err: errors.New("dns-remove: no address")}
	}
	name := ""
	if req.Name != "" {
		n, err := CanonicalName(req.Name, s.domain)
		if err != nil {
			return api.DNSResponse{}, &api.BadRequestError{Err: fmt.Errorf("dns-remove: %w", err)}
		}
		name = n
	}
	n, err := s.reg.RemoveAddrs(req.Addrs, name)
	if err != nil {
		return api.DNSResponse{}, err
	}
	if n == 0 {
		for _, g := range s.reg.Registers() {
			for _, e := range g.Entries {
				if g.Owner != s.cfg.Self && slices.Contains(req.Addrs, e.Addr) && (name == "" || e.Name == name) {
					return api.DNSResponse{}, &api.BadRequestError{Err: fmt.Errorf("dns-remove: %s %s is registered by peer %s: remove it there", e.Name, e.Addr, g.Owner)}
				}
			}
		}
	}
	s.log.Info("dns: names removed", "name", name, "addrs", req.Addrs, "removed", n)
	return api.DNSResponse{Name: name, Changed: n}, nil
}

// DNSStatus implements api.DNSBackend.DNSStatus.
func (s *Service) DNSStatus() api.DNSStatus {
	var nick map[frame.PeerName]string
	if n := s.nicks.Load(); n != nil {
		nick = (*n).Nicknames()
	}
	st := api.DNSStatus{Domain: s.domain, Listen: s.Addr().String(), TTL: int(s.ttl), Upstreams: s.Upstreams(),
		Serving: []string{}, Entries: []api.DNSEntry{}, Tombstones: []api.DNSTombstone{}, Dropped: s.stats.dropped.Load()}
	if s.bridgeMode() {
		st.Listen = fmt.Sprintf("bridge %s, port %d", s.cfg.Bridge, s.cfg.BridgePort)
	}
	for _, ap := range s.Serving() {
		st.Serving = append(st.Serving, ap.String())
	}
	if st.Upstreams == nil {
		st.Upstreams = []string{}
	}
	for _, g := range s.reg.Registers() {
		if g.Gone {
			st.Tombstones = append(st.Tombstones, api.DNSTombstone{Owner: g.Owner.String(), Stamp: g.Stamp})
			continue
		}
		for _, e := range g.Entries {
			st.Entries = append(st.Entries, api.DNSEntry{Name: e.Name, Addr: e.Addr, Owner: g.Owner.String(),
				OwnerNickname: nick[g.Owner], Local: g.Owner == s.cfg.Self, Key: e.Key})
		}
	}
	slices.SortFunc(st.Entries, func(a, b api.DNSEntry) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), a.Addr.Compare(b.Addr), strings.Compare(a.Owner, b.Owner))
	})
	rs := s.reg.Stats()
	st.GossipRefused = map[string]uint64{"ahead": rs.Ahead, "full": rs.Full, "alive": rs.Alive, "malformed": rs.Malformed, "superseded": rs.Superseded}
	return st
}

// CheckName reports whether name can be registered (in the domain,
// valid); it implements attach.Names.CheckName.
func (s *Service) CheckName(name string) error {
	_, err := CanonicalName(name, s.domain)
	return err
}

// Register registers name for a container's addresses under key (the
// container's key, its namespace path); it implements
// attach.Names.Register. A name outside the domain is an error.
func (s *Service) Register(key, name string, addrs []netip.Addr) error {
	n, err := CanonicalName(name, s.domain)
	if err != nil {
		return err
	}
	if err := s.reg.Add(key, n, addrs); err != nil {
		return err
	}
	s.log.Info("dns: registered", "name", n, "addrs", addrs, "key", key)
	return nil
}

// SetNames makes names (each in the domain; for every one of addrs) the
// only names of key, in one change; none drops them. It implements
// watch.DNS.SetNames (a Docker container's names).
func (s *Service) SetNames(key string, names []string, addrs []netip.Addr) error {
	var canon []string
	for _, name := range names {
		n, err := CanonicalName(name, s.domain)
		if err != nil {
			return err
		}
		canon = append(canon, n)
	}
	if len(addrs) == 0 {
		canon = nil
	}
	before := s.reg.localLen()
	if err := s.reg.SetKey(key, canon, addrs); err != nil {
		return err
	}
	if after := s.reg.localLen(); after != before || len(canon) > 0 {
		s.log.Debug("dns: names set", "key", key, "names", canon, "addrs", addrs)
	}
	return nil
}

// Keys lists the keys of this router's names; it implements
// watch.DNS.Keys.
func (s *Service) Keys() []string { return s.reg.LocalKeys() }

// Unregister drops every name of key; it implements
// attach.Names.Unregister.
func (s *Service) Unregister(key string) error {
	n, err := s.reg.RemoveKey(key)
	if n > 0 {
		s.log.Info("dns: unregistered", "key", key, "entries", n)
	}
	return err
}

// Nameserver is the address a container with addresses addrs sends its
// queries to and the search domain (without the final dot), for its
// resolv.conf; ok is false when there is no address it can reach. With
// an explicit listen address that is it, if on port 53 and not the
// unspecified address. On the bridge's addresses, it is the bridge
// address in the subnet of the first of addrs that has one (the
// container reaches it without a router); an address the upkeep loop
// does not serve yet is served within a moment. It implements
// attach.Names.Nameserver and proxy.Nameserver.
func (s *Service) Nameserver(addrs []netip.Addr) (addr netip.Addr, search string, ok bool) {
	search = strings.TrimSuffix(s.domain, ".")
	if !s.bridgeMode() {
		a := s.Addr()
		if !a.IsValid() || a.Addr().IsUnspecified() || a.Port() != 53 {
			return netip.Addr{}, "", false
		}
		return a.Addr(), search, true
	}
	if s.cfg.BridgePort != 53 {
		return netip.Addr{}, "", false
	}
	prefixes := s.bridgePrefixes()
	if ns, ok := inSubnet(prefixes, addrs); ok {
		return ns, search, true
	}
	// The bridge may have been given the address since the last look.
	fresh, err := s.cfg.BridgeAddrs(s.cfg.Bridge)
	if err != nil {
		return netip.Addr{}, "", false
	}
	ns, ok := inSubnet(fresh, addrs)
	if !ok {
		return netip.Addr{}, "", false
	}
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return ns, search, true
}

// inSubnet is the IPv4 address among prefixes whose subnet holds the
// first of addrs that one holds (the narrowest such subnet).
func inSubnet(prefixes []netip.Prefix, addrs []netip.Addr) (netip.Addr, bool) {
	for _, a := range addrs {
		best := netip.Prefix{}
		for _, p := range prefixes {
			if p.Addr().Is4() && p.Contains(a.Unmap()) && (!best.IsValid() || p.Bits() > best.Bits()) {
				best = p
			}
		}
		if best.IsValid() {
			return best.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// ForgetPeer drops the names of peer p at once, mesh-wide (rmpeer). It
// refuses a peer that is alive, and reports whether p had names.
func (s *Service) ForgetPeer(p frame.PeerName) (bool, error) {
	return s.reg.Forget(p)
}
