package dns

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
)

// reloadUpstreams reads the upstream resolvers from the resolv.conf file
// (or takes servers, for tests), leaving out this server's own address:
// it never forwards to itself. A file that cannot be read leaves no
// upstream (forwarded queries get SERVFAIL) and is logged.
func (s *Service) reloadUpstreams(servers []string) {
	if servers == nil {
		cc, err := mdns.ClientConfigFromFile(s.cfg.ResolvConf)
		if err != nil {
			s.log.Warn("dns: no upstream resolvers", "file", s.cfg.ResolvConf, "err", err)
			cc = &mdns.ClientConfig{}
		}
		for _, h := range cc.Servers {
			servers = append(servers, net.JoinHostPort(h, cc.Port))
		}
	}
	self := s.Addr()
	var bridge []netip.Prefix
	if s.bridgeMode() {
		bridge, _ = s.cfg.BridgeAddrs(s.cfg.Bridge)
	}
	ups := []string{}
	for _, hp := range servers {
		ap, err := netip.ParseAddrPort(hp)
		if err != nil {
			s.log.Warn("dns: upstream resolver ignored", "addr", hp, "err", err)
			continue
		}
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		if ap == self || ap.Port() == self.Port() && self.Addr().IsUnspecified() && isLocal(ap.Addr()) {
			continue
		}
		if ap.Port() == s.cfg.BridgePort && slices.ContainsFunc(bridge, func(p netip.Prefix) bool { return p.Addr() == ap.Addr() }) {
			continue
		}
		if !slices.Contains(ups, ap.String()) {
			ups = append(ups, ap.String())
		}
	}
	s.upstreams.Store(&ups)
}

// isLocal reports whether a is an address of this host (loopback, or on
// one of its interfaces).
func isLocal(a netip.Addr) bool {
	if a.IsLoopback() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, ad := range addrs {
		if p, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(p.IP); ok && ip.Unmap() == a {
				return true
			}
		}
	}
	return false
}

// SetUpstreams replaces the upstream resolvers (HOST:PORT) until the
// resolv.conf file changes; for tests and for a router told its
// resolvers some other way.
func (s *Service) SetUpstreams(servers []string) { s.reloadUpstreams(append([]string{}, servers...)) }

// Upstreams returns the resolvers queries outside the domain go to.
func (s *Service) Upstreams() []string {
	if p := s.upstreams.Load(); p != nil {
		return slices.Clone(*p)
	}
	return nil
}

// fileStamp tells when a file changed: its modification time, size and
// inode.
type fileStamp struct {
	mod  time.Time
	size int64
	ino  uint64
	ok   bool
}

func (f *fileStamp) get(path string) {
	fi, err := os.Stat(path)
	if err != nil {
		*f = fileStamp{}
		return
	}
	*f = fileStamp{mod: fi.ModTime(), size: fi.Size(), ok: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		f.ino = st.Ino
	}
}

// changed reports whether path differs from the last look, and looks.
func (f *fileStamp) changed(path string) bool {
	old := *f
	f.get(path)
	return old != *f
}
