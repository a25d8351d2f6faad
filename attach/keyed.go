package attach

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// Attachments made for a container runtime (the CNI plugin) carry the
// runtime's own name for them, a key like cni:NET:CONTAINERID:IFNAME:
// their addresses are kept under it, they end when a detach names it
// (whether the namespace still exists or not), and the sweep leaves them
// alone, since the runtime tells when they end. With a state directory
// they also outlive the router: each is recorded there, Close leaves its
// veth, and the next Start plugs it into the bridge again and puts its
// rules back.

// keyTarget applies the key and interface name of req to t.
func keyTarget(t target, req api.AttachRequest) (target, error) {
	if req.IfName != "" {
		if err := host.CheckIfName(req.IfName); err != nil {
			return t, &api.BadRequestError{Err: fmt.Errorf("attach: %w", err)}
		}
		t.ifname = req.IfName
	}
	if req.Key == "" {
		return t, nil
	}
	if err := api.CheckKey(req.Key); err != nil {
		return t, &api.BadRequestError{Err: fmt.Errorf("attach: %w", err)}
	}
	if t.container {
		return t, &api.BadRequestError{Err: errors.New("attach: a key names a namespace's attachment, not a container's")}
	}
	t.key, t.keyed, t.name = req.Key, true, req.Key
	return t, nil
}

// detachKey ends the attachment made with key: its veth (if it still
// exists), rules, names and addresses. Without an attachment of key (the
// router restarted since), it releases key's addresses.
func (s *Service) detachKey(ctx context.Context, key string) (api.DetachResponse, error) {
	if err := api.CheckKey(key); err != nil {
		return api.DetachResponse{}, &api.BadRequestError{Err: fmt.Errorf("detach: %w", err)}
	}
	defer s.lockNS(key)()
	s.mu.Lock()
	was := s.attachments[key]
	delete(s.attachments, key)
	s.mu.Unlock()
	ok := false
	nsPath := ""
	if was != nil {
		nsPath = was.NetNS
		ok = host.LinkExists(was.HostVeth)
		if err := deleteVeth(was.HostVeth); err != nil {
			s.log.Warn("delete veth", "veth", was.HostVeth, "err", err)
		}
		s.unisolatePort(ctx, was.Attachment)
	}
	s.removeNames(key, nsPath)
	s.dropRecord(key)
	freed := s.cfg.Addresses.Release(key)
	s.log.Info("detached", "key", key, "was_attached", was != nil, "released", freed)
	return api.DetachResponse{Detached: ok, Released: freed}, nil
}

// PendingName is the file name, in a pending directory, of the release
// of key: its hex, so that any key makes one safe name.
func PendingName(key string) string { return hex.EncodeToString([]byte(key)) + ".release" }

// maxPendingFile bounds what is read of a pending release.
const maxPendingFile = 4096

// ReleasePending carries out the releases recorded in dir (one file per
// key, named by PendingName, holding the key) and removes their files.
// It returns the keys released. A file that holds no valid key is
// removed too.
func (s *Service) ReleasePending(ctx context.Context, dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, de := range ents {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".release") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		var key string
		b, err := readLimited(p, maxPendingFile)
		if err == nil {
			key, err = ParsePending(b)
		}
		if err != nil {
			s.log.Warn("pending release: ignored", "file", p, "err", err)
		} else if _, err := s.detachKey(ctx, key); err != nil {
			errs = append(errs, err)
			continue
		} else {
			done = append(done, key)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

// ParsePending is the key of a pending release's contents: one line.
func ParsePending(b []byte) (string, error) {
	key := strings.TrimSpace(string(b))
	if err := api.CheckKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// startState carries out the pending releases and restores the
// attachments recorded in the state directory.
func (s *Service) startState(ctx context.Context) {
	dir := s.cfg.StateDir
	keys, err := s.ReleasePending(ctx, dir)
	if err != nil {
		s.log.Warn("pending releases", "dir", dir, "err", err)
	}
	if len(keys) > 0 {
		s.log.Info("pending releases carried out", "dir", dir, "keys", keys)
	}
	restored, gone, err := s.RestoreKeyed(ctx, dir)
	if err != nil {
		s.log.Warn("restore attachments", "dir", dir, "err", err)
	}
	if len(restored)+len(gone) > 0 {
		s.log.Info("attachments restored", "dir", dir, "restored", restored, "veth_gone", gone)
	}
}

// keyedRecord is what the state directory keeps of an attachment made
// under a runtime's key, for the router's next run: its veth outlives
// the router, and the next run plugs it into the bridge again and puts
// its rules back.
type keyedRecord struct {
	Key      string         `json:"key"`
	HostVeth string         `json:"host_veth"`
	MAC      string         `json:"mac"`
	Addrs    []netip.Prefix `json:"addrs"`
}

// recordName is the file name of key's record in the state directory.
func recordName(key string) string { return hex.EncodeToString([]byte(key)) + ".attachment" }

// maxRecordFile bounds what is read of a record.
const maxRecordFile = 64 << 10

// ParseRecord decodes and checks a record of the state directory.
func ParseRecord(b []byte) (keyedRecord, error) {
	var r keyedRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return r, err
	}
	if err := api.CheckKey(r.Key); err != nil {
		return r, err
	}
	if !strings.HasPrefix(r.HostVeth, host.VethPrefix) || host.CheckIfName(r.HostVeth) != nil {
		return r, fmt.Errorf("record of %s: veth %q is not the router's", r.Key, r.HostVeth)
	}
	mac, err := frame.ParseMAC(r.MAC)
	if err != nil {
		return r, fmt.Errorf("record of %s: %w", r.Key, err)
	}
	if mac.IsMulticast() || mac.IsZero() {
		return r, fmt.Errorf("record of %s: %s is not a unicast MAC", r.Key, mac)
	}
	for _, p := range r.Addrs {
		if !p.IsValid() {
			return r, fmt.Errorf("record of %s: invalid address", r.Key)
		}
	}
	return r, nil
}

// saveKeyed records e in the state directory.
func (s *Service) saveKeyed(e *entry) {
	dir := s.cfg.StateDir
	if dir == "" {
		return
	}
	b, err := json.Marshal(keyedRecord{Key: e.key, HostVeth: e.HostVeth, MAC: e.MAC, Addrs: e.Addrs})
	if err == nil {
		if err = os.MkdirAll(dir, 0o700); err == nil {
			err = atomicfile.Write(filepath.Join(dir, recordName(e.key)), b, 0o600)
		}
	}
	if err != nil {
		s.log.Warn("record attachment: it will not survive a restart", "key", e.key, "err", err)
	}
}

// dropRecord removes key's record from the state directory.
func (s *Service) dropRecord(key string) {
	if s.cfg.StateDir == "" {
		return
	}
	if err := os.Remove(filepath.Join(s.cfg.StateDir, recordName(key))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("remove attachment record", "key", key, "err", err)
	}
}

// RestoreKeyed takes back the attachments recorded in dir by an earlier
// run: those whose veth exists get their rules and their place on the
// bridge again; the records of the others (their namespace ended while
// the router was down) are removed, their addresses kept for the
// runtime's DEL or GC. It returns the keys of both.
func (s *Service) RestoreKeyed(ctx context.Context, dir string) (restored, gone []string, err error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, de := range ents {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".attachment") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		b, err := readLimited(p, maxRecordFile)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := ParseRecord(b)
		if err != nil {
			s.log.Warn("attachment record: ignored and removed", "file", p, "err", err)
			_ = os.Remove(p)
			continue
		}
		ok, err := s.restoreOne(ctx, r)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("restore %s: %w", r.Key, err))
		case ok:
			restored = append(restored, r.Key)
		default:
			gone = append(gone, r.Key)
			_ = os.Remove(p)
		}
	}
	return restored, gone, errors.Join(errs...)
}

// restoreOne restores the attachment of r; false if its veth is gone.
func (s *Service) restoreOne(ctx context.Context, r keyedRecord) (bool, error) {
	defer s.lockNS(r.Key)()
	ep := Endpoint{ID: r.Key, HostVeth: r.HostVeth, MAC: r.MAC, Addrs: r.Addrs}
	if err := s.RestoreEndpoint(ctx, ep); err != nil {
		if errors.Is(err, ErrEndpointGone) {
			return false, nil
		}
		return false, err
	}
	s.reclaim(ctx, r.Key, r.Addrs)
	e := &entry{Attachment: api.Attachment{HostVeth: r.HostVeth, MAC: r.MAC, Addrs: r.Addrs, Container: r.Key}, key: r.Key, keyed: true}
	s.mu.Lock()
	s.attachments[r.Key] = e
	s.mu.Unlock()
	return true, nil
}

// reclaim claims addrs for key again, which the allocator holds already
// (nothing changes) unless it lost them, its database having been
// replaced: then a restored container keeps its addresses and no other
// gets them. A claim the allocator refuses (another key holds the
// address, the database cannot be written) is logged; the container
// keeps the address on its interface until its runtime deletes it.
func (s *Service) reclaim(ctx context.Context, key string, addrs []netip.Prefix) {
	if len(addrs) == 0 {
		return
	}
	if _, _, err := s.cfg.Addresses.Assign(ctx, key, addrs, nil); err != nil {
		s.log.Error("a restored attachment's addresses could not be claimed again (if another key holds one, two containers share it)",
			"key", key, "addrs", addrs, "err", err)
	}
}

// readLimited reads at most limit bytes of the file at p.
func readLimited(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}
