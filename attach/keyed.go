package attach

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/host"
)

// Attachments made for a container runtime (the CNI plugin) carry the
// runtime's own name for them, a key like cni:NET:CONTAINERID:IFNAME:
// their addresses are kept under it, they end when a detach names it
// (whether the namespace still exists or not), and the sweep leaves them
// alone, since the runtime tells when they end.

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
		key, err := readPending(p)
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

// readPending reads the key recorded in the pending release at p.
func readPending(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, maxPendingFile)
	n, _ := f.Read(b)
	return ParsePending(b[:n])
}

// ParsePending is the key of a pending release's contents: one line.
func ParsePending(b []byte) (string, error) {
	key := strings.TrimSpace(string(b))
	if err := api.CheckKey(key); err != nil {
		return "", err
	}
	return key, nil
}

// routinePending carries out the pending releases once, at start.
func (s *Service) routinePending(ctx context.Context) {
	defer s.done.Done()
	keys, err := s.ReleasePending(ctx, s.cfg.PendingDir)
	if err != nil {
		s.log.Warn("pending releases", "dir", s.cfg.PendingDir, "err", err)
	}
	if len(keys) > 0 {
		s.log.Info("pending releases carried out", "dir", s.cfg.PendingDir, "keys", keys)
	}
}
