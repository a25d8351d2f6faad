package attach

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/api"
)

func newKeyedTest(addrs *memAddrs, pending string) *Service {
	return New(Config{Bridge: "ws-no-such-br", MTU: 1400, Addresses: addrs, Ports: nopPorts{}, Switch: nopSwitch{}, StateDir: pending})
}

// A detach by key releases the key's addresses even when the router
// holds no attachment of it (it restarted since the attach).
func TestDetachKeyWithoutAttachment(t *testing.T) {
	addrs := newMemAddrs()
	s := newKeyedTest(addrs, "")
	const key = "cni:pods:abc123:eth0"
	if _, _, err := addrs.Assign(context.Background(), key, nil, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Detach(context.Background(), api.DetachRequest{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Detached || len(resp.Released) != 1 || addrs.has(key) {
		t.Fatalf("detach by key: %+v, still held: %v", resp, addrs.has(key))
	}
	// Again: nothing left, no error.
	if resp, err := s.Detach(context.Background(), api.DetachRequest{Key: key}); err != nil || len(resp.Released) != 0 {
		t.Fatalf("second detach: %+v, %v", resp, err)
	}
}

// Keys and interface names are checked before anything is done.
func TestAttachRefusesBadKeyOrIfName(t *testing.T) {
	addrs := newMemAddrs()
	s := newKeyedTest(addrs, "")
	ns := nsFile(t, "ns1")
	for _, req := range []api.AttachRequest{
		{NetNS: ns, Key: "docker:0123"},
		{NetNS: ns, Key: "/run/netns/x"},
		{NetNS: ns, Key: "cni:a b"},
		{NetNS: ns, Key: "cni:ok", IfName: "eth/0"},
		{NetNS: ns, IfName: "a-name-longer-than-15"},
	} {
		_, err := s.Attach(context.Background(), req)
		if !errors.As(err, new(*api.BadRequestError)) {
			t.Errorf("attach %+v: %v, want a bad request", req, err)
		}
	}
	if len(addrs.assigned) != 0 {
		t.Fatalf("assigned %v for refused attaches", addrs.assigned)
	}
	if _, err := s.Detach(context.Background(), api.DetachRequest{Key: "docker:0123"}); !errors.As(err, new(*api.BadRequestError)) {
		t.Fatalf("detach of a docker key: %v, want a bad request", err)
	}
}

// writePending records the release of key in dir as the CNI plugin does.
func writePending(t *testing.T, dir, key string) string {
	t.Helper()
	p := filepath.Join(dir, PendingName(key))
	if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Start carries out the recorded releases, removes their files and
// leaves other files alone.
func TestStartCarriesOutPendingReleases(t *testing.T) {
	dir := t.TempDir()
	addrs := newMemAddrs()
	keys := []string{"cni:pods:aaa:eth0", "cni:pods:bbb:eth0"}
	var files []string
	for _, k := range keys {
		if _, _, err := addrs.Assign(context.Background(), k, nil, nil); err != nil {
			t.Fatal(err)
		}
		files = append(files, writePending(t, dir, k))
	}
	bogus := filepath.Join(dir, "bogus.release")
	if err := os.WriteFile(bogus, []byte("docker:0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("cni:pods:ccc:eth0"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newKeyedTest(addrs, dir)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // waits for the pending releases
		t.Fatal(err)
	}
	for _, k := range keys {
		if addrs.has(k) || !slices.Contains(addrs.released, k) {
			t.Errorf("%s not released (released: %v)", k, addrs.released)
		}
	}
	for _, f := range append(files, bogus) {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("%s removed: %v", other, err)
	}
}

// A missing pending directory is no error.
func TestReleasePendingNoDir(t *testing.T) {
	s := newKeyedTest(newMemAddrs(), "")
	keys, err := s.ReleasePending(context.Background(), filepath.Join(t.TempDir(), "none"))
	if err != nil || len(keys) != 0 {
		t.Fatalf("ReleasePending of a missing dir: %v, %v", keys, err)
	}
}

func FuzzParsePending(f *testing.F) {
	f.Add([]byte("cni:pods:abc:eth0\n"))
	f.Add([]byte("docker:abc"))
	f.Add([]byte(" cni:x \r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := ParsePending(b)
		if err != nil {
			return
		}
		if api.CheckKey(key) != nil {
			t.Fatalf("ParsePending(%q) = %q, an invalid key", b, key)
		}
		if PendingName(key) == "" || filepath.Base(PendingName(key)) != PendingName(key) {
			t.Fatalf("PendingName(%q) = %q", key, PendingName(key))
		}
	})
}

// Records whose veth is gone, and records that do not parse, are
// removed at restore; the addresses stay for the runtime's DEL or GC.
func TestRestoreKeyedGoneAndBad(t *testing.T) {
	dir := t.TempDir()
	addrs := newMemAddrs()
	const key = "cni:pods:gone:eth0"
	if _, _, err := addrs.Assign(context.Background(), key, nil, nil); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, recordName(key))
	rec := `{"key":"` + key + `","host_veth":"vwsffffffffff","mac":"02:00:00:00:00:01","addrs":["10.40.0.1/24"]}`
	if err := os.WriteFile(good, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "00.attachment")
	if err := os.WriteFile(bad, []byte(`{"key":"docker:x","host_veth":"eth0"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newKeyedTest(addrs, dir)
	restored, gone, err := s.RestoreKeyed(context.Background(), dir)
	if err != nil || len(restored) != 0 || !slices.Equal(gone, []string{key}) {
		t.Fatalf("RestoreKeyed = %v, %v, %v", restored, gone, err)
	}
	for _, f := range []string{good, bad} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", f, err)
		}
	}
	if !addrs.has(key) {
		t.Fatal("restore released the addresses of a record whose veth is gone")
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"key":"cni:pods:a:eth0","host_veth":"vws12ab","mac":"02:00:00:00:00:01","addrs":["10.40.0.1/24"]}`))
	f.Add([]byte(`{"key":"cni:x","host_veth":"vws/../x","mac":"ff:ff:ff:ff:ff:ff"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		if api.CheckKey(r.Key) != nil || filepath.Base(r.HostVeth) != r.HostVeth || len(r.HostVeth) > 15 {
			t.Fatalf("ParseRecord(%q) accepted %+v", b, r)
		}
	})
}
