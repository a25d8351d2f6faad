package attach

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// Names is the router's DNS registry, as attaching needs it: the name a
// container is attached with (and its hostname, when it is in the
// domain) is registered under the container's key until detach.
type Names interface {
	// CheckName reports whether name can be registered.
	CheckName(name string) error
	// Register registers name for addrs under key.
	Register(key, name string, addrs []netip.Addr) error
	// Unregister drops every name of key.
	Unregister(key string) error
	// Nameserver is the address a container with addresses addrs
	// queries (one it reaches: in the subnet of one of addrs) and the
	// search domain; ok is false when there is none to tell it.
	Nameserver(addrs []netip.Addr) (addr netip.Addr, search string, ok bool)
}

// netnsEtc is where `ip netns exec` finds a named namespace's files.
var netnsEtc = "/etc/netns"

// resolvMark starts every resolv.conf attach writes, so that detach
// removes only files it wrote.
const resolvMark = "# written by weave-switch attach for "

// checkNames refuses an attach --name before anything is done when the
// name cannot be registered.
func (s *Service) checkNames(req api.AttachRequest) error {
	if req.Name == "" {
		return nil
	}
	if s.cfg.Names == nil {
		return &api.BadRequestError{Err: errors.New("attach --name: the router runs without DNS")}
	}
	if err := s.cfg.Names.CheckName(req.Name); err != nil {
		return &api.BadRequestError{Err: fmt.Errorf("attach --name: %w", err)}
	}
	return nil
}

// addNames registers the container's names for its addresses under key
// and writes the resolv.conf of its namespace at path; on error nothing
// is left registered. container is the Docker name of a container
// attached by name or ID ("" for a namespace): it is one of its names.
func (s *Service) addNames(key, path, container string, req api.AttachRequest, addrs []netip.Prefix) error {
	n := s.cfg.Names
	if n == nil {
		return nil
	}
	var as []netip.Addr
	for _, p := range addrs {
		as = append(as, p.Addr())
	}
	names := []string{}
	if req.Name != "" {
		names = append(names, req.Name)
	}
	if container != "" && container != req.Name && n.CheckName(container) == nil {
		names = append(names, container)
	}
	if h := hostname(path); h != "" && strings.Contains(h, ".") && n.CheckName(h) == nil {
		names = append(names, h)
	}
	for _, name := range names {
		if err := n.Register(key, name, as); err != nil {
			_ = n.Unregister(key)
			return fmt.Errorf("attach: register %s: %w", name, err)
		}
	}
	if !req.NoResolvConf {
		if err := s.writeResolvConf(path, as); err != nil {
			s.log.Warn("attach: resolv.conf not written", "netns", path, "err", err)
		}
	}
	return nil
}

// removeNames drops the names registered under key and the resolv.conf
// attach wrote for the namespace at path.
func (s *Service) removeNames(key, path string) {
	if n := s.cfg.Names; n != nil {
		if err := n.Unregister(key); err != nil {
			s.log.Warn("detach: names not removed", "netns", path, "err", err)
		}
	}
	file, ok := resolvConfPath(path)
	if !ok {
		return
	}
	b, err := os.ReadFile(file)
	if err != nil || !bytes.HasPrefix(b, []byte(resolvMark)) {
		return
	}
	if err := os.Remove(file); err != nil {
		s.log.Warn("detach: resolv.conf not removed", "file", file, "err", err)
		return
	}
	_ = os.Remove(filepath.Dir(file)) // only if empty
}

// resolvConfPath is the resolv.conf of a named namespace (/run/netns/N):
// /etc/netns/N/resolv.conf. Other namespaces (a PID's) have their own
// file system, managed by their runtime.
func resolvConfPath(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, "/run/netns/")
	if !ok || name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return "", false
	}
	return filepath.Join(netnsEtc, name, "resolv.conf"), true
}

// writeResolvConf points a named namespace, whose addresses are addrs,
// at the router's DNS, unless a resolv.conf attach did not write is
// there.
func (s *Service) writeResolvConf(path string, addrs []netip.Addr) error {
	file, ok := resolvConfPath(path)
	if !ok {
		return nil
	}
	addr, search, ok := s.cfg.Names.Nameserver(addrs)
	if !ok {
		s.log.Info("attach: no resolv.conf written: the router serves DNS on no address in the container's subnets (expose an address of the subnet on this host)",
			"netns", path, "addrs", addrs)
		return nil
	}
	if b, err := os.ReadFile(file); err == nil && !bytes.HasPrefix(b, []byte(resolvMark)) {
		s.log.Info("attach: the namespace has a resolv.conf of its own; left as it is", "file", file)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	body := fmt.Sprintf("%s%s\nnameserver %s\nsearch %s\noptions ndots:1\n", resolvMark, path, addr, search)
	return atomicfile.Write(file, []byte(body), 0o644)
}

// hostname is the hostname of the container whose namespace is
// /proc/PID/ns/net, from its /etc/hostname; "" for other namespaces.
func hostname(path string) string {
	rest, ok := strings.CutPrefix(path, "/proc/")
	if !ok {
		return ""
	}
	pid, _, _ := strings.Cut(rest, "/")
	b, err := os.ReadFile(filepath.Join("/proc", pid, "root/etc/hostname"))
	if err != nil || len(b) > 256 {
		return ""
	}
	return strings.TrimSpace(string(b))
}
