package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/attach"
	"github.com/weave-switch/weave-switch/docker"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/nstest"
	"github.com/weave-switch/weave-switch/isolation"
)

// childEnv marks the process TestRealDockerd runs inside its namespaces;
// its value is the directory holding the managed plugin's build.
const childEnv = "WS_PLUGIN_DOCKERD_CHILD"

// TestRealDockerd runs a real dockerd against the driver, backed by the
// real allocator, isolation and attach services, in a network namespace
// and a private mount namespace of its own (its own
// /run/docker/plugins, /run/weave-switch and /etc/docker): networks,
// containers that get our addresses and ping each other, connect and
// disconnect, a reserved address, stop and start, rm releasing, network
// rm hiding the gateway, and the managed (v2) plugin. The calls dockerd
// made in each flow are logged (and written to $WS_PLUGIN_CALL_LOG).
//
//	test process (host) ── unshare -m ── nsenter --net=ws-nst-PID-N ── test process (child)
//	                                                                      ├ bridge "weave", ipam, isolation, attach, plugin
//	                                                                      └ dockerd ── containerd ── containers (ethwe0 on weave)
func TestRealDockerd(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		runDockerdChild(t, dir)
		return
	}
	nstest.RequireRoot(t)
	if testing.Short() {
		t.Skip("starts a dockerd")
	}
	for _, bin := range []string{"dockerd", "docker", "unshare", "nsenter", "nft", "iptables", "busybox", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s", bin)
		}
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "rootfs", "weave-switch-docker-plugin"),
		"github.com/weave-switch/weave-switch/cmd/weave-switch-docker-plugin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the managed plugin: %v\n%s", err, out)
	}
	cfg, err := os.ReadFile("../../deploy/docker-plugin/config.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	ns := nstest.NS(t)
	cmd := exec.CommandContext(t.Context(), "unshare", "-m", "--propagation", "private",
		"nsenter", "--net=/run/netns/"+ns, os.Args[0], "-test.run=^TestRealDockerd$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 60 * time.Second
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
}

// callLog records the driver's calls, in order, under the flow that
// made them.
type callLog struct {
	mu    sync.Mutex
	flow  string
	lines []string
}

func (l *callLog) mark(flow string) {
	l.mu.Lock()
	l.flow = flow
	l.lines = append(l.lines, "== "+flow)
	l.mu.Unlock()
}

func (l *callLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *callLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *callLog) WithGroup(string) slog.Handler            { return l }
func (l *callLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	switch r.Message {
	case "docker plugin call", "docker plugin call failed":
	default:
		if r.Level < slog.LevelInfo {
			return nil
		}
		b.WriteString("   (log) " + r.Message)
	}
	r.Attrs(func(a slog.Attr) bool {
		switch {
		case a.Key == "call":
			b.WriteString(a.Value.String())
		case a.Key == "request" && a.Value.String() != "" && a.Value.String() != "null":
			b.WriteString(" " + a.Value.String())
		default:
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	l.mu.Unlock()
	return nil
}

// testRouter is the part of a router the driver works with: the bridge,
// isolation, attach and the driver, started and stopped together (the
// allocator outlives it, as its database does).
type testRouter struct {
	t      *testing.T
	self   frame.PeerName
	bridge string
	dir    string
	ipm    *ipam.Service
	log    *slog.Logger

	iso  *isolation.Service
	att  *attach.Service
	plug *Service
}

func (r *testRouter) start() {
	t := r.t
	const mtu = 1410
	if _, err := host.EnsureBridge(host.Bridge{Name: r.bridge, MTU: mtu, MAC: host.BridgeMAC(r.self)}); err != nil {
		t.Fatal(err)
	}
	r.iso = isolation.NewService(isolation.ServiceConfig{Self: r.self, Bridge: r.bridge, Isolate: true, DataDir: r.dir, Addresses: r.ipm, Logger: r.log})
	if err := r.iso.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	r.att = attach.New(attach.Config{Bridge: r.bridge, MTU: mtu, Addresses: r.ipm, Ports: r.iso, Switch: nopSwitch{}, Logger: r.log})
	r.plug = New(Config{Sockets: []string{"/run/docker/plugins/weave-switch.sock", "/run/weave-switch/plugin.sock"}, Bridge: r.bridge,
		StateFile: filepath.Join(r.dir, "docker-plugin.json"), Addresses: r.ipm, Host: r.iso, Endpoints: r.att, Logger: r.log})
	if err := r.plug.Start(); err != nil {
		t.Fatal(err)
	}
}

// stop stops the router as `weave-switch up` does on SIGTERM: the
// bridge it made goes too, the containers' veths stay.
func (r *testRouter) stop() {
	if r.plug == nil {
		return
	}
	if err := r.plug.Close(); err != nil {
		r.t.Errorf("plugin close: %v", err)
	}
	r.att.Close()
	r.iso.Close()
	_ = host.DeleteLink(r.bridge)
	r.plug = nil
}

type nopSwitch struct{}

func (nopSwitch) ClaimMAC(frame.MAC) bool  { return false }
func (nopSwitch) ForgetMAC(frame.MAC) bool { return false }

func runDockerdChild(t *testing.T, pluginDir string) {
	tmp := t.TempDir()
	for _, d := range []string{"/run/docker/plugins", "/run/weave-switch", "/etc/docker"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", d).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs on %s: %v: %s", d, err, out)
		}
	}
	log := &callLog{}
	logger := slog.New(log)
	ctx := t.Context()

	// The router's services, as the daemon builds them, on a bridge.
	const bridge = "weave"
	self, _ := frame.ParsePeerName("02:00:00:00:aa:01")
	ipm := ipam.New(ipam.Config{Self: self, Range: netip.MustParsePrefix("10.32.0.0/12"), Seeds: []frame.PeerName{self}, Yield: true,
		DataDir: tmp, Logger: logger})
	if err := ipm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ipm.Close() })
	rt := &testRouter{t: t, self: self, bridge: bridge, dir: tmp, ipm: ipm, log: logger}
	rt.start()
	t.Cleanup(func() {
		rt.stop()
		if out, _ := exec.Command("iptables", "-S", "FORWARD").CombinedOutput(); strings.Contains(string(out), "weave-switch") {
			t.Errorf("FORWARD rules left:\n%s", out)
		}
	})
	if out, _ := exec.Command("iptables", "-S", "FORWARD").CombinedOutput(); !strings.Contains(string(out), `-i weave -o weave -m comment --comment "weave-switch weave" -j ACCEPT`) {
		t.Fatalf("no FORWARD rule:\n%s", out)
	}

	// dockerd, stopped by PID.
	sock := filepath.Join(tmp, "docker.sock")
	dlog, err := os.Create(filepath.Join(tmp, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	dockerd := exec.Command("dockerd", "--data-root", filepath.Join(tmp, "data"), "--exec-root", filepath.Join(tmp, "exec"),
		"--pidfile", filepath.Join(tmp, "dockerd.pid"), "-H", "unix://"+sock, "--bip", "10.203.1.1/24",
		"--default-address-pool", "base=10.203.128.0/17,size=24", "--shutdown-timeout", "3")
	dockerd.Stdout, dockerd.Stderr = dlog, dlog
	if err := dockerd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &dockerCLI{t: t, host: "unix://" + sock}
	t.Cleanup(func() {
		if t.Failed() {
			log.mu.Lock()
			t.Logf("plugin calls and logs:\n%s", tail(strings.Join(log.lines, "\n"), 40))
			log.mu.Unlock()
			b, _ := os.ReadFile(dlog.Name())
			t.Logf("dockerd log (tail):\n%s", tail(string(b), 60))
		}
		for _, id := range strings.Fields(d.out("ps", "-aq")) {
			d.out("rm", "-f", id)
		}
		for _, n := range []string{"wsnet", "wsnet2", "wsnet3", "wsdef"} {
			d.out("network", "rm", n)
		}
		d.out("plugin", "rm", "-f", "wsplug/net:test")
		_ = dockerd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = dockerd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = dockerd.Process.Kill()
			<-done
		}
		dlog.Close()
	})
	for i := 0; ; i++ {
		if _, err := d.run("version"); err == nil {
			break
		}
		if i == 240 {
			t.Fatal("dockerd did not answer")
		}
		time.Sleep(250 * time.Millisecond)
	}
	d.image(tmp)

	keys := func(prefix string) map[string][]netip.Addr {
		out := map[string][]netip.Addr{}
		for _, a := range ipm.Status().Allocations {
			if strings.HasPrefix(a.Key, prefix) {
				out[a.Key] = a.Addrs
			}
		}
		return out
	}
	def := netip.MustParsePrefix(ipm.Status().DefaultSubnet)

	log.mark("docker network create -d weave-switch --ipam-driver weave-switch wsnet")
	d.must("network", "create", "-d", "weave-switch", "--ipam-driver", "weave-switch", "wsnet")
	gw := d.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", "wsnet")
	if a, err := netip.ParseAddr(gw); err != nil || !def.Contains(a) {
		t.Fatalf("gateway %q not in %s", gw, def)
	}

	log.mark("docker run -d --network wsnet (c1)")
	d.must("run", "-d", "--name", "c1", "--network", "wsnet", "wsbox:test", "sleep", "3600")
	log.mark("docker run -d --network wsnet (c2)")
	d.must("run", "-d", "--name", "c2", "--network", "wsnet", "wsbox:test", "sleep", "3600")
	a1, a2 := d.addr("c1", "ethwe0"), d.addr("c2", "ethwe0")
	for _, a := range []netip.Prefix{a1, a2} {
		if a.Masked() != def {
			t.Fatalf("container address %s not in the default subnet %s", a, def)
		}
	}
	if got := keys(AddrKeyPrefix); len(got) != 2 {
		t.Fatalf("allocations %v", got)
	}
	d.must("exec", "c1", "ping", "-c", "2", "-W", "5", a2.Addr().String())
	d.must("exec", "c2", "ping", "-c", "2", "-W", "5", a1.Addr().String())
	d.must("exec", "c1", "ping", "-c", "1", "-W", "5", gw)
	if route := d.must("exec", "c1", "ip", "route"); !strings.Contains(route, "default via "+gw) {
		t.Fatalf("c1 routes:\n%s", route)
	}
	if nets := d.must("network", "ls", "--format", "{{.Name}}"); strings.Contains(nets, "docker_gwbridge") {
		t.Fatalf("docker_gwbridge made:\n%s", nets)
	}

	log.mark("docker network create -d weave-switch --ipam-driver weave-switch --subnet 10.40.7.0/24 wsnet2")
	d.must("network", "create", "-d", "weave-switch", "--ipam-driver", "weave-switch", "--subnet", "10.40.7.0/24", "wsnet2")
	log.mark("docker network connect --driver-opt weave.test=driveropt --ip 10.40.7.50 wsnet2 c1")
	d.must("network", "connect", "--driver-opt", "weave.test=driveropt", "--ip", "10.40.7.50", "wsnet2", "c1")
	if a := d.addr("c1", "ethwe1"); a.String() != "10.40.7.50/24" {
		t.Fatalf("c1 ethwe1 %s", a)
	}
	if _, err := d.run("exec", "c2", "ping", "-c", "1", "-W", "1", "10.40.7.50"); err == nil {
		t.Fatal("c2 (default subnet) reached c1 in 10.40.7.0/24: not isolated")
	}
	log.mark("docker network disconnect wsnet2 c1")
	d.must("network", "disconnect", "wsnet2", "c1")
	if out, _ := d.run("exec", "c1", "ip", "link", "show", "ethwe1"); strings.Contains(out, "ethwe1:") {
		t.Fatal("ethwe1 left in c1")
	}
	if got := keys(AddrKeyPrefix + "10.40.7.50"); len(got) != 0 {
		t.Fatalf("10.40.7.50 not released: %v", got)
	}

	// An address the API proxy reserved under the container's key is
	// granted, kept across stop and start, and not released by dockerd.
	log.mark("docker create --network wsnet2 --ip 10.40.7.60 (c3); reserved under docker:<ID>")
	id := d.must("create", "--name", "c3", "--network", "wsnet2", "--ip", "10.40.7.60", "wsbox:test", "sleep", "3600")
	if _, _, err := ipm.Assign(ctx, docker.ContainerKey(id), []netip.Prefix{netip.MustParsePrefix("10.40.7.60/24")}, nil); err != nil {
		t.Fatal(err)
	}
	log.mark("docker start c3")
	d.must("start", "c3")
	if a := d.addr("c3", "ethwe0"); a.String() != "10.40.7.60/24" {
		t.Fatalf("c3 %s", a)
	}
	log.mark("docker stop c3")
	d.must("stop", "-t", "1", "c3")
	log.mark("docker start c3 (again)")
	d.must("start", "c3")
	log.mark("docker restart c3")
	d.must("restart", "-t", "1", "c3")
	if a := d.addr("c3", "ethwe0"); a.String() != "10.40.7.60/24" {
		t.Fatalf("c3 after restart %s", a)
	}
	log.mark("docker rm -f c3")
	d.must("rm", "-f", "c3")
	if got := keys(docker.ContainerKey(id)); len(got) != 1 {
		t.Fatalf("the container's reserved address went with the endpoint: %v", keys(""))
	}
	ipm.Release(docker.ContainerKey(id))

	// A router restart while containers run: the endpoints are put back
	// on the new bridge with their rules.
	log.mark("router restart (plugin, attach, isolation, bridge)")
	rt.stop()
	rt.start()
	d.must("exec", "c1", "ping", "-c", "2", "-W", "5", a2.Addr().String())

	// What reaches the driver: a preferred address on a network created
	// without --subnet, and an endpoint's driver options given at run.
	log.mark("docker run --network wsnet --ip 10.32.0.78 (c5, network without --subnet)")
	out, err := d.run("run", "-d", "--name", "c5", "--network", "wsnet", "--ip", "10.32.0.78", "wsbox:test", "sleep", "3600")
	t.Logf("docker run --ip on a network without --subnet: err=%v: %s", err, out)
	d.out("rm", "-f", "c5")
	log.mark("docker network create --subnet " + def.String() + " wsdef; docker run --network wsdef --ip 10.32.0.77 (c6)")
	d.must("network", "create", "-d", "weave-switch", "--ipam-driver", "weave-switch", "--subnet", def.String(), "wsdef")
	d.must("run", "-d", "--name", "c6", "--network", "wsdef", "--ip", "10.32.0.77", "wsbox:test", "sleep", "3600")
	if a := d.addr("c6", "ethwe0"); a.String() != "10.32.0.77/13" {
		t.Fatalf("c6 %s", a)
	}
	d.must("exec", "c6", "ping", "-c", "1", "-W", "5", a1.Addr().String())
	// Extra addresses in the endpoint's driver options (as the API proxy
	// gives them): on the container's interface, soon after the start.
	log.mark("docker run --network name=wsnet,driver-opt=" + docker.ExtraOpt + "=10.40.9.5/24 (c7)")
	d.must("run", "-d", "--name", "c7", "--network", "name=wsnet,driver-opt="+docker.ExtraOpt+"=10.40.9.5/24", "wsbox:test", "sleep", "3600")
	for i := 0; ; i++ {
		out := d.must("exec", "c7", "ip", "-4", "addr", "show", "ethwe0")
		if strings.Contains(out, "inet 10.40.9.5/24") {
			break
		}
		if i == 100 {
			t.Fatalf("c7 has no 10.40.9.5/24:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(keys(AddrKeyPrefix+"10.40.9.5")) != 1 {
		t.Fatalf("10.40.9.5 not claimed: %v", keys(""))
	}
	log.mark("docker rm -f c6 c7; docker network rm wsdef")
	d.out("rm", "-f", "c6", "c7")
	d.must("network", "rm", "wsdef")
	if len(keys(AddrKeyPrefix+"10.40.9.5")) != 0 {
		t.Fatalf("10.40.9.5 not released: %v", keys(""))
	}
	// A preferred address on a network made without --subnet is refused
	// by dockerd for connect too.
	log.mark("docker network connect --ip 10.32.0.79 wsnet c7b (network without --subnet)")
	d.must("create", "--name", "c7b", "--network", "none", "wsbox:test", "sleep", "3600")
	out, err = d.run("network", "connect", "--ip", "10.32.0.79", "wsnet", "c7b")
	t.Logf("docker network connect --ip on a network without --subnet: err=%v: %s", err, out)
	d.out("rm", "-f", "c7b")

	log.mark("docker rm -f c1 c2")
	d.must("rm", "-f", "c1", "c2")
	if got := keys(AddrKeyPrefix); len(got) != 0 {
		t.Fatalf("addresses left after rm: %v", got)
	}
	links, _ := exec.Command("ip", "-o", "link").Output()
	if strings.Contains(string(links), "vwph") || strings.Contains(string(links), "vwpc") {
		t.Fatalf("endpoint veths left:\n%s", links)
	}
	log.mark("docker network rm wsnet wsnet2")
	d.must("network", "rm", "wsnet", "wsnet2")
	if ex := rt.iso.Status(false).Exposed; len(ex) != 0 {
		t.Fatalf("gateways left exposed: %v", ex)
	}

	// The managed plugin: a forwarder to /run/weave-switch/plugin.sock.
	log.mark("docker plugin create + enable wsplug/net:test")
	d.must("plugin", "create", "wsplug/net:test", pluginDir)
	d.must("plugin", "enable", "wsplug/net:test")
	log.mark("docker network create -d wsplug/net:test --ipam-driver wsplug/net:test wsnet3")
	d.must("network", "create", "-d", "wsplug/net:test", "--ipam-driver", "wsplug/net:test", "wsnet3")
	log.mark("docker run --rm --network wsnet3 (c4)")
	out = d.must("run", "--rm", "--name", "c4", "--network", "wsnet3", "wsbox:test", "ip", "-4", "addr", "show", "ethwe0")
	if m := inetRE.FindStringSubmatch(out); m == nil || !def.Contains(netip.MustParsePrefix(m[1]).Addr()) {
		t.Fatalf("c4 through the managed plugin:\n%s", out)
	}
	log.mark("docker network rm wsnet3; plugin disable, rm")
	d.must("network", "rm", "wsnet3")
	d.must("plugin", "disable", "wsplug/net:test")
	d.must("plugin", "rm", "wsplug/net:test")
	if got := keys(AddrKeyPrefix); len(got) != 0 {
		t.Fatalf("addresses left: %v", got)
	}
	if ex := rt.iso.Status(false).Exposed; len(ex) != 0 {
		t.Fatalf("gateways left exposed: %v", ex)
	}

	log.mu.Lock()
	calls := strings.Join(log.lines, "\n")
	log.mu.Unlock()
	t.Logf("plugin calls by flow:\n%s", calls)
	if f := os.Getenv("WS_PLUGIN_CALL_LOG"); f != "" {
		_ = os.WriteFile(f, []byte(calls+"\n"), 0o644)
	}
}

var inetRE = regexp.MustCompile(`inet (\d+\.\d+\.\d+\.\d+/\d+)`)

// dockerCLI runs the docker CLI against one dockerd.
type dockerCLI struct {
	t    *testing.T
	host string
}

func (d *dockerCLI) run(args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+d.host)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (d *dockerCLI) out(args ...string) string {
	out, _ := d.run(args...)
	return out
}

func (d *dockerCLI) must(args ...string) string {
	d.t.Helper()
	out, err := d.run(args...)
	if err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// addr is the IPv4 address of ifname in container c.
func (d *dockerCLI) addr(c, ifname string) netip.Prefix {
	d.t.Helper()
	out := d.must("exec", c, "ip", "-4", "addr", "show", ifname)
	m := inetRE.FindStringSubmatch(out)
	if m == nil {
		d.t.Fatalf("%s has no IPv4 address on %s:\n%s", c, ifname, out)
	}
	return netip.MustParsePrefix(m[1])
}

// image imports wsbox:test: a busybox rootfs, no registry.
func (d *dockerCLI) image(tmp string) {
	d.t.Helper()
	root := filepath.Join(tmp, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		d.t.Fatal(err)
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		d.t.Fatal(err)
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		d.t.Fatal(err)
	}
	for _, n := range []string{"sh", "ping", "ip", "nc", "sleep", "cat", "hostname"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", n)); err != nil {
			d.t.Fatal(err)
		}
	}
	tar := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command("docker", "import", "-c", `CMD ["/bin/sh"]`, "-", "wsbox:test")
	imp.Env = append(os.Environ(), "DOCKER_HOST="+d.host)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		d.t.Fatal(err)
	}
	imp.Stdin = pipe
	if err := tar.Start(); err != nil {
		d.t.Fatal(err)
	}
	out, err := imp.CombinedOutput()
	if werr := tar.Wait(); err != nil || werr != nil {
		d.t.Fatalf("docker import: %v %v\n%s", err, werr, out)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
