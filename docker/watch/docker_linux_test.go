package watch

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/docker"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/nstest"
	"github.com/weave-switch/weave-switch/isolation"
)

// innerEnv marks the run of TestDockerInner inside the test's namespace.
const innerEnv = "WS_WATCH_TEST_INNER"

const (
	dockerd   = "/usr/sbin/dockerd"
	dockerCLI = "docker"
	busybox   = "/bin/busybox"
)

// TestDocker runs the watcher and the attach service against a real
// dockerd: both run in a network namespace of the test's own (the
// router's namespace is dockerd's, as in production), so the test runs
// itself again there with nsenter, which keeps /sys/fs/cgroup visible.
func TestDocker(t *testing.T) {
	nstest.RequireRoot(t)
	for _, p := range []string{dockerd, busybox} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("needs %s (Debian docker.io and busybox-static)", p)
		}
	}
	if _, err := exec.LookPath(dockerCLI); err != nil {
		t.Skip("needs the docker CLI")
	}
	ns := nstest.NS(t)
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ns, os.Args[0], "-test.run=^TestDockerInner$", "-test.v", "-test.count=1", "-test.timeout=170s")
	cmd.Env = append(os.Environ(), innerEnv+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("inner run:\n%s", out)
	if err != nil {
		t.Fatalf("inner run: %v", err)
	}
}

// daemon is a dockerd of the test's.
type daemon struct {
	sock, data, exec, pidfile string
	cmd                       *exec.Cmd
	log                       *os.File
}

func (d *daemon) start(t *testing.T) {
	t.Helper()
	d.cmd = exec.Command(dockerd, "--data-root", d.data, "--exec-root", d.exec, "--pidfile", d.pidfile,
		"-H", "unix://"+d.sock, "--bip", "10.211.1.1/24", "--default-address-pool", "base=10.211.128.0/17,size=24")
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("dockerd: %v", err)
	}
	for i := 0; ; i++ {
		if _, err := d.run("version"); err == nil {
			return
		}
		if i == 240 {
			t.Fatalf("dockerd did not come up; see %s", d.log.Name())
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// stop stops dockerd by its PID and waits for it.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	d.cmd = nil
}

func (d *daemon) run(args ...string) (string, error) {
	c := exec.Command(dockerCLI, args...)
	c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock)
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (d *daemon) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := d.run(args...)
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return out
}

// image imports a busybox rootfs as image name.
func (d *daemon) image(t *testing.T, name string) {
	t.Helper()
	bb, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, app := range []string{"sh", "sleep", "ip", "cat"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + app, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	tw.Close()
	c := exec.Command(dockerCLI, "import", "-c", `CMD ["/bin/sh"]`, "-", name)
	c.Env = append(os.Environ(), "DOCKER_HOST=unix://"+d.sock)
	c.Stdin = &buf
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
}

// memIPAM is an allocator in memory: one address per key, from
// 10.40.0.0/16, and the same one when asked again.
type memIPAM struct {
	mu   sync.Mutex
	keys map[string][]netip.Addr
	next byte
}

func (a *memIPAM) Assign(_ context.Context, key string, _ []netip.Prefix, _ []string) ([]netip.Prefix, func(), error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	had := a.keys[key] != nil
	if !had {
		a.next++
		a.keys[key] = []netip.Addr{netip.AddrFrom4([4]byte{10, 40, 0, a.next})}
	}
	return []netip.Prefix{netip.PrefixFrom(a.keys[key][0], 16)}, func() {
		if !had {
			a.Release(key)
		}
	}, nil
}

func (a *memIPAM) Release(key string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := a.keys[key]
	delete(a.keys, key)
	return out
}

func (a *memIPAM) Status() *api.IPAMStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := &api.IPAMStatus{}
	for k, as := range a.keys {
		st.Allocations = append(st.Allocations, api.IPAMAllocation{Key: k, Addrs: as})
	}
	return st
}

func (a *memIPAM) has(key string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.keys[key] != nil
}

type nopPorts struct{}

func (nopPorts) SetPort(context.Context, isolation.Port) (func(), error) { return func() {}, nil }
func (nopPorts) RemovePort(context.Context, string) error                { return nil }

type nopSwitch struct{}

func (nopSwitch) ClaimMAC(frame.MAC) bool  { return false }
func (nopSwitch) ForgetMAC(frame.MAC) bool { return false }

// release is one release the watcher reported.
type release struct {
	key, how string
	at       time.Time
}

// until polls cond until it holds; the test's deadline bounds it.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if t.Context().Err() != nil {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDockerInner(t *testing.T) {
	if os.Getenv(innerEnv) == "" {
		t.Skip("run by TestDocker")
	}
	id := os.Getpid()
	d := &daemon{sock: fmt.Sprintf("/run/wsw-%d.sock", id), exec: fmt.Sprintf("/run/wsw-%d", id), pidfile: fmt.Sprintf("/run/wsw-%d.pid", id)}
	var err error
	if d.data, err = os.MkdirTemp("", "wsw-docker-"); err != nil {
		t.Fatal(err)
	}
	if d.log, err = os.Create(d.data + ".log"); err != nil {
		t.Fatal(err)
	}
	_, keyErr := os.Stat("/etc/docker/key.json")
	t.Cleanup(func() {
		for _, c := range []string{"wsw-a", "wsw-b", "wsw-c", "wsw-d", "wsw-e"} {
			d.run("rm", "-f", c)
		}
		d.stop()
		d.log.Close()
		if t.Failed() {
			log, _ := os.ReadFile(d.log.Name())
			t.Logf("dockerd log:\n%s", log)
		}
		os.Remove(d.log.Name())
		if err := os.RemoveAll(d.data); err != nil {
			t.Logf("remove %s: %v", d.data, err)
		}
		os.RemoveAll(d.exec)
		os.Remove(d.sock)
		os.Remove(d.pidfile)
		if errors.Is(keyErr, os.ErrNotExist) {
			os.Remove("/etc/docker/key.json") // dockerd 20.10 writes it on every start
		}
	})

	// The router's side: a bridge, the attach service, the watcher. The
	// watcher starts before dockerd and picks it up when it comes.
	br := "wswbr"
	if _, err := host.EnsureBridge(host.Bridge{Name: br, MTU: 1400}); err != nil {
		t.Fatal(err)
	}
	cli, err := docker.NewClient("unix://" + d.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ipam := &memIPAM{keys: map[string][]netip.Addr{}}
	names := NewNames(cli)
	dns := &fakeDNS{keys: map[string][]string{}}
	att := attach.New(attach.Config{Bridge: br, MTU: 1400, Addresses: ipam, Ports: nopPorts{}, Switch: nopSwitch{}, Resolver: names,
		Names: dns, SweepInterval: time.Second})
	if err := att.Start(); err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	rel := make(chan release, 16)
	newWatcher := func() *Service {
		return New(Config{Docker: cli, Addresses: ipam, Attachments: att, Names: dns, MaxBackoff: time.Second,
			Released: func(key, how string, _ []netip.Addr) { rel <- release{key, how, time.Now()} }})
	}
	w := newWatcher()
	w.Start()
	defer func() { w.Close() }()
	ctx := t.Context()

	d.start(t)
	until(t, "watcher connected", func() bool { ok, _ := w.Connected(); return ok })
	d.image(t, "wsw-busybox:test")

	attachment := func(name string) (api.Attachment, bool) {
		for _, a := range att.Attachments() {
			if a.Container == name {
				return a, true
			}
		}
		return api.Attachment{}, false
	}
	addrIn := func(c string) string {
		out, _ := d.run("exec", c, "ip", "-4", "-o", "addr", "show", "dev", host.ContainerIfName)
		return out
	}

	// Attach by name; die and start keep the address and MAC.
	d.must(t, "run", "-d", "--network", "none", "--name", "wsw-a", "wsw-busybox:test", "sleep", "1000")
	a, err := att.Attach(ctx, api.AttachRequest{NetNS: "wsw-a"})
	if err != nil {
		t.Fatalf("attach wsw-a: %v", err)
	}
	full := d.must(t, "inspect", "-f", "{{.Id}}", "wsw-a")
	key := docker.ContainerKey(full)
	if !ipam.has(key) || a.Container != "wsw-a" || !strings.Contains(addrIn("wsw-a"), a.Addrs[0].String()) {
		t.Fatalf("attach by name: %+v, key %s held %v, in the container: %q", a, key, ipam.has(key), addrIn("wsw-a"))
	}
	nameA := []string{"wsw-a " + a.Addrs[0].Addr().String()}
	if got := dns.get(key); !slices.Equal(got, nameA) {
		t.Errorf("attach by name registered %v, want %v", got, nameA)
	}
	for _, step := range [][]string{{"restart", "-t", "0", "wsw-a"}, {"stop", "-t", "0", "wsw-a"}, {"start", "wsw-a"}} {
		d.must(t, step...)
		if step[0] == "stop" {
			until(t, "stopped attachment", func() bool { b, _ := attachment("wsw-a"); return b.Stopped })
			continue
		}
		until(t, "attached again after "+step[0], func() bool {
			b, _ := attachment("wsw-a")
			return !b.Stopped && b.NetNS != a.NetNS && b.NetNS != ""
		})
		b, _ := attachment("wsw-a")
		if b.MAC != a.MAC || len(b.Addrs) != 1 || b.Addrs[0] != a.Addrs[0] || !strings.Contains(addrIn("wsw-a"), a.Addrs[0].String()) {
			t.Errorf("after %s: %+v, was %+v; in the container: %q", step[0], b, a, addrIn("wsw-a"))
		}
		a = b
		t.Logf("after docker %s: %s %s %v", step[0], b.NetNS, b.MAC, b.Addrs)
	}
	// Started again: the watcher has registered its Docker name too.
	until(t, "the watcher registers wsw-a", func() bool { return slices.Equal(dns.get(NameKey(full)), nameA) })
	if got := dns.get(key); !slices.Equal(got, nameA) {
		t.Errorf("after the restarts, attach's names are %v, want %v", got, nameA)
	}

	// rm releases, by the destroy event; measured from before the rm.
	start := time.Now()
	d.must(t, "rm", "-f", "wsw-a")
	r := <-rel
	if r.key != key || r.how != "destroy" || ipam.has(key) {
		t.Errorf("release after rm = %+v, key still held: %v", r, ipam.has(key))
	}
	if _, ok := attachment("wsw-a"); ok {
		t.Errorf("removed container still attached")
	}
	if dns.get(key) != nil || dns.get(NameKey(full)) != nil {
		t.Errorf("docker rm left names: %v", dns.Keys())
	}
	t.Logf("docker rm -f -> addresses released: %v", r.at.Sub(start))

	// A --rm container: its death removes it, and that releases.
	d.must(t, "run", "-d", "--rm", "--network", "none", "--name", "wsw-d", "wsw-busybox:test", "sleep", "1")
	if _, err := att.Attach(ctx, api.AttachRequest{NetNS: "wsw-d"}); err != nil {
		t.Fatalf("attach wsw-d: %v", err)
	}
	r = <-rel
	if !strings.HasPrefix(r.key, docker.KeyPrefix) || r.how != "destroy" {
		t.Errorf("release of the --rm container = %+v", r)
	}

	// Removed while the watcher was down: released by the reconcile of
	// the next watcher.
	w.Close()
	d.must(t, "run", "-d", "--network", "none", "--name", "wsw-b", "wsw-busybox:test", "sleep", "1000")
	if _, err := att.Attach(ctx, api.AttachRequest{NetNS: "wsw-b"}); err != nil {
		t.Fatalf("attach wsw-b: %v", err)
	}
	keyB := docker.ContainerKey(d.must(t, "inspect", "-f", "{{.Id}}", "wsw-b"))
	d.must(t, "rm", "-f", "wsw-b")
	if !ipam.has(keyB) {
		t.Fatalf("the key of wsw-b went with no watcher")
	}
	w = newWatcher()
	w.Start()
	if r = <-rel; r.key != keyB || r.how != "reconcile" || ipam.has(keyB) {
		t.Errorf("reconcile release = %+v (want %s)", r, keyB)
	}

	// dockerd restarts: the watcher comes back to it, and follows it.
	until(t, "watcher connected", func() bool { ok, _ := w.Connected(); return ok })
	d.stop()
	until(t, "watcher disconnected", func() bool { ok, _ := w.Connected(); return !ok })
	d.start(t)
	until(t, "watcher reconnected", func() bool { ok, n := w.Connected(); return ok && n >= 2 })
	d.must(t, "run", "-d", "--network", "none", "--name", "wsw-c", "wsw-busybox:test", "sleep", "1000")
	if _, err := att.Attach(ctx, api.AttachRequest{NetNS: "wsw-c"}); err != nil {
		t.Fatalf("attach wsw-c: %v", err)
	}
	keyC := docker.ContainerKey(d.must(t, "inspect", "-f", "{{.Id}}", "wsw-c"))
	start = time.Now()
	d.must(t, "rm", "-f", "wsw-c")
	if r = <-rel; r.key != keyC || r.how != "destroy" || ipam.has(keyC) {
		t.Errorf("release after the daemon's restart = %+v (want %s)", r, keyC)
	}
	t.Logf("after dockerd restarted: docker rm -f -> addresses released: %v", r.at.Sub(start))
	// Detach by name releases at once.
	d.must(t, "run", "-d", "--network", "none", "--name", "wsw-e", "wsw-busybox:test", "sleep", "1000")
	if _, err := att.Attach(ctx, api.AttachRequest{NetNS: "wsw-e"}); err != nil {
		t.Fatalf("attach wsw-e: %v", err)
	}
	keyE := docker.ContainerKey(d.must(t, "inspect", "-f", "{{.Id}}", "wsw-e"))
	if r, err := att.Detach(ctx, api.DetachRequest{NetNS: "wsw-e"}); err != nil || !r.Detached || len(r.Released) != 1 || ipam.has(keyE) {
		t.Errorf("detach wsw-e = %+v, %v", r, err)
	}
	if _, ok := attachment("wsw-e"); ok || strings.Contains(addrIn("wsw-e"), "inet ") {
		t.Errorf("wsw-e still attached: %q", addrIn("wsw-e"))
	}
	if links, _ := host.BridgePorts(br); len(links) != 0 {
		t.Errorf("veths left on the bridge: %v", links)
	}
}
