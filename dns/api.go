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
		Entries: []api.DNSEntry{}, Tombstones: []api.DNSTombstone{}, Dropped: s.stats.dropped.Load()}
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

// Unregister drops every name of key; it implements
// attach.Names.Unregister.
func (s *Service) Unregister(key string) error {
	n, err := s.reg.RemoveKey(key)
	if n > 0 {
		s.log.Info("dns: unregistered", "key", key, "entries", n)
	}
	return err
}

// Nameserver is the address containers send their queries to and the
// search domain (without the final dot), for their resolv.conf; ok is
// false while the Service listens on no single address. It implements
// attach.Names.Nameserver.
func (s *Service) Nameserver() (addr netip.Addr, search string, ok bool) {
	a := s.Addr()
	if !a.IsValid() || a.Addr().IsUnspecified() || a.Port() != 53 {
		return netip.Addr{}, "", false
	}
	return a.Addr(), strings.TrimSuffix(s.domain, "."), true
}

// ForgetPeer drops the names of peer p at once, mesh-wide (rmpeer). It
// refuses a peer that is alive, and reports whether p had names.
func (s *Service) ForgetPeer(p frame.PeerName) (bool, error) {
	return s.reg.Forget(p)
}
