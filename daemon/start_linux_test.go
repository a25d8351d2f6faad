package daemon

import (
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/internal/meshsecret"
	"github.com/weave-switch/weave-switch/internal/nstest"
	"github.com/weave-switch/weave-switch/kube"
	"github.com/weave-switch/weave-switch/kube/kubetest"
)

// inNetNS is set in the child process that runs a test inside its own
// network namespace.
const inNetNS = "WEAVE_SWITCH_DAEMON_TEST_NETNS"

// runInNetNS runs the test named by t again, as a child process inside a
// network namespace made for it, so that everything the daemon's
// goroutines create is confined there. It reports whether the caller is
// that child (and should do the work).
func runInNetNS(t *testing.T) bool {
	if os.Getenv(inNetNS) != "" {
		return true
	}
	nstest.RequireRoot(t)
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (scripts/deps.sh installs it)", tool)
		}
	}
	ns := nstest.NS(t)
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), inNetNS+"=1")
	out, err := cmd.CombinedOutput()
	t.Logf("in netns %s:\n%s", ns, out)
	if err != nil {
		t.Fatalf("the test in its namespace failed: %v", err)
	}
	return false
}

// testConfig is a router with every service on: three transports, the
// vxlan fast path, isolation, the metrics listener, the Docker plugin,
// proxy and watcher (with no dockerd to reach), DNS. It runs without a
// secret (Insecure), as the vxlan fast path is unencrypted.
func testConfig(t *testing.T) config.Config {
	dir := t.TempDir()
	return config.Config{
		Name: "02:00:00:00:00:01", Nickname: "steps", DataDir: filepath.Join(dir, "data"), API: filepath.Join(dir, "api.sock"),
		Bridge: "wstep", Listen: "127.0.0.1:6783", WireGuardListen: "127.0.0.1:51820", QUICListen: "127.0.0.1:6784",
		Offer: []string{"wireguard", "quic"}, Datapath: "vxlan", MetricsAddr: "127.0.0.1:6782", Insecure: true,
		DockerHost: "unix://" + filepath.Join(dir, "no-dockerd.sock"), ProxySocket: filepath.Join(dir, "docker-proxy.sock"),
		PluginSockets: []string{filepath.Join(dir, "plugin.sock")}, DNSListen: "127.0.0.1:5353",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// leftovers lists what a stopped router left in the namespace: links
// but lo, nft tables, FORWARD rules, bound ports, the API, proxy and
// plugin sockets.
func leftovers(c config.Config) []string {
	var out []string
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	for _, l := range strings.Split(strings.TrimSpace(string(links)), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] != "lo:" {
			out = append(out, "link "+strings.TrimSuffix(f[1], ":"))
		}
	}
	tables, _ := exec.Command("nft", "list", "tables").Output()
	for _, l := range strings.Split(strings.TrimSpace(string(tables)), "\n") {
		if strings.Contains(l, "weave-switch") {
			out = append(out, "nft "+l)
		}
	}
	for _, a := range []string{c.Listen, c.WireGuardListen, c.QUICListen} {
		if pc, err := net.ListenPacket("udp", a); err != nil {
			out = append(out, "udp "+a+" bound")
		} else {
			pc.Close()
		}
	}
	for _, a := range []string{c.Listen, c.MetricsAddr, c.DNSListen} {
		if ln, err := net.Listen("tcp", a); err != nil {
			out = append(out, "tcp "+a+" bound")
		} else {
			ln.Close()
		}
	}
	rules, _ := exec.Command("iptables", "-S", "FORWARD").Output()
	for _, l := range strings.Split(string(rules), "\n") {
		if strings.Contains(l, "weave-switch") {
			out = append(out, "iptables "+l)
		}
	}
	for _, sock := range append([]string{c.API, c.ProxySocket}, c.PluginSockets...) {
		if _, err := os.Stat(sock); err == nil {
			out = append(out, "socket "+sock)
		}
	}
	return out
}

// settle waits until the goroutines that a stopped router started are
// gone, and says how many are left above want.
func settle(want int) int {
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n - want
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A start that fails at any step removes everything the steps before it
// made: no link, nft table, bound socket, API socket or goroutine is
// left. So does a clean Close after a full start.
func TestStartRollsBackEveryStep(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatal(err)
	}
	// One full start and close first: packages start some goroutines of
	// their own once, for good.
	warm, err := Start(testConfig(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := warm.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	base := runtime.NumGoroutine()
	for range 25 { // until it holds still for 200 ms
		time.Sleep(200 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == base {
			break
		}
		base = n
	}

	var names []string
	for _, s := range (&Daemon{}).steps() {
		names = append(names, s.name)
	}
	for _, name := range append(names, "") {
		c := testConfig(t)
		d, err := start(c, name)
		switch {
		case name == "" && err != nil:
			t.Fatalf("Start: %v", err)
		case name == "":
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			name = "(a clean Close)"
		case err == nil:
			d.Close()
			t.Fatalf("step %s: Start succeeded with a failure injected", name)
		case !strings.Contains(err.Error(), "injected failure"):
			t.Fatalf("step %s: Start failed on its own: %v", name, err)
		}
		if left := leftovers(c); len(left) > 0 {
			t.Errorf("after a failure at %s, left behind: %s", name, strings.Join(left, "; "))
		}
		if n := settle(base); n > 0 {
			buf := make([]byte, 1<<20)
			t.Errorf("after a failure at %s, %d goroutines left:\n%s", name, n, buf[:runtime.Stack(buf, true)])
		}
	}
	t.Logf("steps: %s", strings.Join(names, ", "))
}

// The steps' names are unique, so that a failure can be injected at each.
func TestStepNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range (&Daemon{}).steps() {
		if seen[s.name] {
			t.Errorf("step %s twice", s.name)
		}
		seen[s.name] = true
	}
}

// A router started with no secret makes one in its data dir (0600),
// reports where it came from, and hands out a join token carrying it;
// a second start uses it again.
func TestStartMakesSecret(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatal(err)
	}
	c := testConfig(t)
	c.Insecure, c.Datapath, c.Offer, c.MetricsAddr = false, "userspace", nil, ""
	var secret []byte
	for i, want := range []string{meshsecret.FromCreated, meshsecret.FromStored} {
		d, err := Start(c)
		if err != nil {
			t.Fatalf("start %d: %v", i, err)
		}
		st := d.Status()
		tok, terr := d.JoinToken()
		d.Close()
		if st.Secret != want || st.Insecure {
			t.Errorf("start %d: secret from %q, insecure %v; want %q, false", i, st.Secret, st.Insecure, want)
		}
		if terr != nil {
			t.Fatalf("JoinToken: %v", terr)
		}
		parsed, err := meshsecret.ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(meshsecret.Path(c.DataDir)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("secret file: %v, %v", fi, err)
		}
		if secret == nil {
			secret = parsed.Secret
		}
		if string(parsed.Secret) != string(secret) || !slices.Equal(parsed.Addrs, []string{"127.0.0.1:6783"}) {
			t.Errorf("start %d: token %+v, want the secret %q and 127.0.0.1:6783", i, parsed, secret)
		}
	}
}

// Kubernetes mode with an API server: the router seeds the allocation
// ring as its node is the oldest, dials the other node's router, and
// forgets it when the node is deleted.
func TestStartKube(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		t.Fatal(err)
	}
	srv := kubetest.New(t)
	old := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv.Create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-1", CreationTimestamp: metav1.NewTime(old)},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}}})
	srv.Create(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-2", CreationTimestamp: metav1.NewTime(old.Add(time.Hour))},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.2"}}}})
	defer func(f func() (*kube.Client, error)) { newKubeClient = f }(newKubeClient)
	newKubeClient = func() (*kube.Client, error) {
		return kube.NewClient(kube.ClientConfig{Server: srv.URL(), RootCAs: srv.RootCAs(), TokenFile: srv.TokenFile()})
	}
	c := testConfig(t)
	c.Name, c.Datapath, c.Offer, c.MetricsAddr, c.NoDocker, c.NoDNS = "", "userspace", nil, "", true, true
	c.Kube, c.KubeNodeName, c.Nickname = true, "node-1", "node-1"
	d, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st := d.Status()
	if st.Name != kube.PeerNameOf("node-1").String() || st.IPAM == nil ||
		!slices.Equal(st.IPAM.Seeds, []string{kube.PeerNameOf("node-1").String()}) {
		t.Fatalf("name %s, IPAM %+v: want the node's peer name, seeding the ring alone", st.Name, st.IPAM)
	}
	dialed := func() bool {
		for _, conn := range d.Status().Connections {
			if conn.Address == "127.0.0.2:6783" && conn.Direction == "outbound" {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(20 * time.Second)
	for !dialed() {
		if time.Now().After(deadline) {
			t.Fatalf("node-2's router not dialed: %+v", d.Status().Connections)
		}
		time.Sleep(50 * time.Millisecond)
	}
	srv.Delete("node-2")
	for dialed() {
		if time.Now().After(deadline) {
			t.Fatalf("node-2's router still dialed after its deletion: %+v", d.Status().Connections)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := srv.Requests("list"); n != 2 {
		t.Errorf("%d node lists, want 2 (the seeding, the watch's)", n)
	}
}

// Kubernetes mode outside a cluster (no service account, no
// KUBERNETES_SERVICE_HOST) fails at the kube step, saying why, and
// leaves nothing behind.
func TestStartKubeOutsideCluster(t *testing.T) {
	if !runInNetNS(t) {
		return
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	c := testConfig(t)
	c.Kube, c.KubeNodeName = true, "node-1"
	d, err := Start(c)
	if err == nil {
		d.Close()
		t.Fatal("Start succeeded outside a cluster")
	}
	if !strings.Contains(err.Error(), "in-cluster config") {
		t.Errorf("err = %v, want the in-cluster config's", err)
	}
	if left := leftovers(c); len(left) > 0 {
		t.Errorf("left behind: %s", strings.Join(left, "; "))
	}
}
