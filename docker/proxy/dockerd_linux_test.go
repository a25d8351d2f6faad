package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/alloc/ipam"
	"github.com/weave-switch/weave-switch/docker"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/internal/nstest"
)

const (
	dockerdBin = "/usr/sbin/dockerd"
	testImage  = "ws-proxy-busybox:test"
	// The weave network of the test: the whole allocation range, with
	// docker's gateway at its top so that it takes no address the
	// allocator hands out first.
	testRange   = "10.32.0.0/12"
	testGateway = "10.47.255.254"
)

// testDockerd is a dockerd of the test's own, in a network namespace of
// its own.
type testDockerd struct {
	sock   string // its API socket
	config string // DOCKER_CONFIG for the CLI
	log    string // its log file (--debug: it logs every API call)
	seen   int    // how much of log calls has read
}

// calls are the API calls dockerd logged since the last calls.
func (d *testDockerd) calls() []string {
	b, _ := os.ReadFile(d.log)
	if d.seen > len(b) {
		d.seen = 0
	}
	var out []string
	for _, line := range strings.Split(string(b[d.seen:]), "\n") {
		if _, call, ok := strings.Cut(line, `msg="Calling `); ok {
			out = append(out, strings.TrimSuffix(call, `"`))
		}
	}
	d.seen = len(b)
	return out
}

// startDockerd starts a dockerd in a new network namespace and waits
// until it answers. Everything it made is removed when t ends: the
// daemon is stopped by PID, its mounts, roots and namespace removed.
func startDockerd(t *testing.T) *testDockerd {
	t.Helper()
	nstest.RequireRoot(t)
	if _, err := os.Stat(dockerdBin); err != nil {
		t.Skip("no dockerd:", err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker CLI:", err)
	}
	ns := nstest.NS(t)
	data := t.TempDir()
	exe := fmt.Sprintf("/run/wsp-%d-%s", os.Getpid(), ns[strings.LastIndex(ns, "-")+1:])
	d := &testDockerd{sock: exe + ".sock", config: t.TempDir(), log: filepath.Join(t.TempDir(), "dockerd.log")}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net=/run/netns/"+ns, dockerdBin, "--debug",
		"--data-root", data, "--exec-root", exe, "--pidfile", exe+".pid", "-H", "unix://"+d.sock,
		"--bip", "10.202.1.1/24", "--default-address-pool", "base=10.202.128.0/17,size=24")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM lets dockerd stop its containers, its containerd and
		// unmount; SIGKILL after a minute.
		cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			<-exited
		}
		unmountUnder(data)
		unmountUnder(exe)
		os.RemoveAll(exe)
		os.Remove(exe + ".sock")
		os.Remove(exe + ".pid")
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(d.log); err == nil {
				t.Logf("dockerd log (tail):\n%s", tail(string(b), 40))
			}
		}
	})
	for i := 0; ; i++ {
		if _, err := d.docker("version"); err == nil {
			break
		} else if i == 240 {
			t.Fatalf("dockerd did not answer: %v", err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return d
}

// unmountUnder lazily unmounts whatever is still mounted under dir.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			syscall.Unmount(f[1], syscall.MNT_DETACH)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cli runs the docker CLI against host with stdin in, and returns its
// combined output.
func (d *testDockerd) cli(host string, in io.Reader, args ...string) (string, error) {
	cmd := exec.Command("docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+host, "DOCKER_CONFIG="+d.config, "DOCKER_CLI_HINTS=false")
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// docker runs the CLI against the daemon itself.
func (d *testDockerd) docker(args ...string) (string, error) {
	return d.cli("unix://"+d.sock, nil, args...)
}

// importBusybox imports a busybox image: a rootfs with /bin/busybox
// (static) and its applets as symlinks.
func (d *testDockerd) importBusybox(t *testing.T) {
	t.Helper()
	bb := "/bin/busybox"
	if out, err := exec.Command("ldd", bb).CombinedOutput(); err == nil || !strings.Contains(string(out), "not a dynamic") {
		t.Skipf("%s is missing or not static (apt-get install busybox-static): %s", bb, out)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", applet))
		}
	}
	for _, dir := range []string{"tmp", "proc", "sys", "dev", "etc"} {
		os.MkdirAll(filepath.Join(root, dir), 0o755)
	}
	tar := exec.Command("tar", "-C", root, "-c", ".")
	pipe, err := tar.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tar.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.cli("unix://"+d.sock, pipe, "import", "-c", `CMD ["/bin/sh"]`, "-", testImage); err != nil {
		t.Fatal(err)
	}
	if err := tar.Wait(); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a log sink the test reads while the proxy writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String is what was written since the last take.
func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// take returns what was written since the last take.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// requests are the method and path of each Docker API request in logs.
func requests(logs string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		var l struct{ Msg, Method, Path string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "docker API request" {
			out = append(out, l.Method+" "+l.Path)
		}
	}
	return out
}

// TestProxyRealDockerd runs the docker CLI through the proxy against a
// real dockerd: plain, interactive, detached, exec, attach (upgraded and
// raw), and the create rewrite onto a network named weave (docker's own
// bridge driver stands in for the router's plugin), with addresses from
// a real allocator.
func TestProxyRealDockerd(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	d := startDockerd(t)
	d.importBusybox(t)
	if _, err := d.docker("network", "create", "-d", "bridge", "--subnet", testRange, "--gateway", testGateway, docker.DefaultNetwork); err != nil {
		t.Fatal(err)
	}

	self := frame.PeerName(0x020000000001)
	addrs := ipam.New(ipam.Config{Self: self, Nickname: "h1", Range: netip.MustParsePrefix(testRange), Seeds: []frame.PeerName{self}, DataDir: t.TempDir()})
	if err := addrs.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { addrs.Close() })

	logs := &syncBuffer{}
	sock := filepath.Join(t.TempDir(), "proxy.sock")
	p, err := New(Config{Socket: sock, DockerHost: "unix://" + d.sock, Addresses: addrs, DNS: fakeNS{},
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		if err := p.Close(); err != nil {
			t.Error("second Close:", err)
		}
	})
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("proxy socket %v, %v; want a socket of mode 0660", fi, err)
	}
	if _, err := listen(sock); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("listening on the live socket again = %v, want refused", err)
	}
	viaProxy := "unix://" + sock
	run := func(in io.Reader, args ...string) string {
		t.Helper()
		out, err := d.cli(viaProxy, in, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// weaveAddr is the address container c has on the weave network:
	// the one asked for, and once it runs the one it has.
	weaveAddr := func(c string) string {
		t.Helper()
		out := strings.TrimSpace(run(nil, "inspect", "-f",
			`{{with index .NetworkSettings.Networks "weave"}}{{with .IPAMConfig}}{{.IPv4Address}}{{end}} {{.IPAddress}}{{end}}`, c))
		asked, has, _ := strings.Cut(out, " ")
		if has != "" && has != asked {
			t.Errorf("%s asked for %q on weave and has %q", c, asked, has)
		}
		return asked
	}
	held := func(c string) []netip.Addr {
		t.Helper()
		id := strings.TrimSpace(run(nil, "inspect", "-f", "{{.Id}}", c))
		return addrs.Channel().Lookup(docker.ContainerKey(id))
	}
	reset := func() { logs.take(); d.calls() }
	reset()

	t.Run("run echo", func(t *testing.T) {
		if out := run(nil, "run", "--rm", testImage, "echo", "hi"); out != "hi\n" {
			t.Errorf("output %q, want hi", out)
		}
		t.Logf("docker run --rm IMG echo hi: the proxy got %q; dockerd got %q", requests(logs.take()), d.calls())
	})
	t.Run("run -i with stdin", func(t *testing.T) {
		if out := run(strings.NewReader("data\nmore\n"), "run", "-i", "--rm", testImage, "cat"); out != "data\nmore\n" {
			t.Errorf("output %q, want the stdin piped in", out)
		}
		reset()
	})
	t.Run("run -it", func(t *testing.T) {
		reset()
		if _, err := exec.LookPath("script"); err != nil {
			t.Skip("no script(1) for a tty:", err)
		}
		cmd := exec.Command("script", "-qec", "docker run -it -e WEAVE_CIDR=10.32.9.9/12 --rm "+testImage+" sh -c 'tty >/dev/null && echo tty-ok; ip -4 -o addr'", "/dev/null")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+viaProxy, "DOCKER_CONFIG="+d.config)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "tty-ok") || !strings.Contains(string(out), "10.32.9.9/12") {
			t.Errorf("docker run -it: %v: %q; want tty-ok and the address 10.32.9.9/12 before the process ran", err, out)
		}
		t.Logf("docker run -it -e WEAVE_CIDR=10.32.9.9/12 --rm: the proxy got %q; dockerd got %q", requests(logs.take()), d.calls())
	})
	t.Run("run -d, logs, exec, address", func(t *testing.T) {
		run(nil, "run", "-d", "--name", "c1", "-e", "WEAVE_CIDR=10.32.5.5/12", testImage, "sh", "-c", "ip -4 -o addr; echo started; exec sleep 600")
		t.Logf("docker run -d -e WEAVE_CIDR=10.32.5.5/12: the proxy got %q; dockerd got %q", requests(logs.take()), d.calls())
		if got := weaveAddr("c1"); got != "10.32.5.5" {
			t.Errorf("c1's address on weave = %q, want 10.32.5.5", got)
		}
		if got := held("c1"); len(got) != 1 || got[0] != netip.MustParseAddr("10.32.5.5") {
			t.Errorf("allocator holds %v for c1, want 10.32.5.5", got)
		}
		if got := run(nil, "inspect", "-f", "{{.HostConfig.Dns}} {{.HostConfig.DnsSearch}}", "c1"); got != "[10.32.0.1] [weave.local]\n" {
			t.Errorf("c1's DNS settings = %q, want the router's", got)
		}
		// The process saw the address at its start: it printed it before
		// "started" (logs waits for neither; retry until both lines are in).
		var out string
		for i := 0; i < 100 && !strings.Contains(out, "started"); i++ {
			out = run(nil, "logs", "c1")
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(out, "10.32.5.5/12") {
			t.Errorf("c1's logs %q do not show 10.32.5.5/12", out)
		}
		if out := run(nil, "exec", "c1", "echo", "exec-ok"); out != "exec-ok\n" {
			t.Errorf("exec output %q", out)
		}
		if out := run(strings.NewReader("piped\n"), "exec", "-i", "c1", "cat"); out != "piped\n" {
			t.Errorf("exec -i output %q", out)
		}
		reset()
		// A restart asks for the same address again.
		run(nil, "restart", "-t", "0", "c1")
		if got := weaveAddr("c1"); got != "10.32.5.5" {
			t.Errorf("c1's address after restart = %q, want 10.32.5.5", got)
		}
	})
	t.Run("automatic address", func(t *testing.T) {
		run(nil, "create", "--name", "c2", testImage, "true")
		got, h := weaveAddr("c2"), held("c2")
		if len(h) != 1 || got != h[0].String() || !alloc.DefaultSubnet(netip.MustParsePrefix(testRange)).Contains(h[0]) {
			t.Errorf("c2 has %q on weave, allocator holds %v; want one address of the default subnet", got, h)
		}
	})
	t.Run("the user's DNS is kept", func(t *testing.T) {
		run(nil, "create", "--name", "d1", "--dns", "192.0.2.53", testImage, "true")
		if got := run(nil, "inspect", "-f", "{{.HostConfig.Dns}} {{.HostConfig.DnsSearch}}", "d1"); got != "[192.0.2.53] []\n" {
			t.Errorf("d1's DNS settings = %q, want the user's", got)
		}
		run(nil, "create", "--name", "d2", "-e", "WEAVE_CIDR=none", testImage, "true")
		if got := run(nil, "inspect", "-f", "{{.HostConfig.Dns}}", "d2"); got != "[]\n" {
			t.Errorf("WEAVE_CIDR=none: DNS settings = %q, want none", got)
		}
	})
	t.Run("several addresses", func(t *testing.T) {
		run(nil, "create", "--name", "c3", "-e", "WEAVE_CIDR=10.32.6.6/12 net:10.32.7.0/24", testImage, "true")
		if got := weaveAddr("c3"); got != "10.32.6.6" {
			t.Errorf("c3's address = %q, want the first one, 10.32.6.6", got)
		}
		if h := held("c3"); len(h) != 2 {
			t.Errorf("allocator holds %v for c3, want 2 addresses", h)
		}
	})
	t.Run("left alone", func(t *testing.T) {
		for _, args := range [][]string{
			{"--name", "n1", "-e", "WEAVE_CIDR=none"},
			{"--name", "n2", "--network", "host"},
			{"--name", "n3", "--network", "none"},
		} {
			run(nil, append(append([]string{"create"}, args...), testImage, "true")...)
			if got := weaveAddr(args[1]); got != "" {
				t.Errorf("%v: on weave with %q, want not", args, got)
			}
			if h := held(args[1]); len(h) != 0 {
				t.Errorf("%v: allocator holds %v", args, h)
			}
		}
	})
	t.Run("address taken: create fails, container removed", func(t *testing.T) {
		before := run(nil, "ps", "-aq")
		reset()
		out, err := d.cli(viaProxy, nil, "run", "-d", "--name", "dup", "-e", "WEAVE_CIDR=10.32.5.5/12", testImage, "true")
		if err == nil || !strings.Contains(out, "10.32.5.5") {
			t.Errorf("a second container with 10.32.5.5: %v: %q; want an error naming the address", err, out)
		}
		t.Logf("a refused create: the proxy got %q; dockerd got %q; the error: %q", requests(logs.take()), d.calls(), strings.TrimSpace(out))
		if after := run(nil, "ps", "-aq"); after != before {
			t.Errorf("containers %q after, %q before: the refused one is left", after, before)
		}
		out, err = d.cli(viaProxy, nil, "create", "-e", "WEAVE_CIDR=10.32.5.5", testImage, "true")
		if err == nil || !strings.Contains(out, "WEAVE_CIDR") {
			t.Errorf("a WEAVE_CIDR without a length: %v: %q; want an error naming WEAVE_CIDR", err, out)
		}
	})
	t.Run("attach", func(t *testing.T) {
		// With -i, stdin's end closes the container's stdin (StdinOnce)
		// and the output still comes; a container started with -d -i
		// instead has dockerd end the attach at once when stdin ends.
		run(nil, "create", "-i", "--name", "c4", testImage, "sh", "-c", "read x; echo got $x")
		run(nil, "start", "c4")
		reset()
		if out := run(strings.NewReader("hello\n"), "attach", "c4"); out != "got hello\n" {
			t.Errorf("attach output %q", out)
		}
		t.Logf("echo hello | docker attach: the proxy got %q; dockerd got %q", requests(logs.take()), d.calls())
	})
	t.Run("raw hijack without upgrade", func(t *testing.T) {
		run(nil, "create", "-i", "--name", "c5", testImage, "sh", "-c", "read x; echo raw $x")
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "POST /v1.41/containers/c5/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n")
		br := bufio.NewReader(c)
		status, err := br.ReadString('\n')
		if err != nil || !strings.Contains(status, " 200 ") {
			t.Fatalf("attach answer %q, %v", status, err)
		}
		run(nil, "start", "c5")
		fmt.Fprintf(c, "ping\n")
		c.(*net.UnixConn).CloseWrite()
		rest, _ := io.ReadAll(br)
		if !bytes.Contains(rest, []byte("raw ping\n")) {
			t.Errorf("raw attach read %q, want the container's answer", rest)
		}
	})
	t.Run("logs -f streams", func(t *testing.T) {
		run(nil, "create", "-i", "--name", "c6", testImage, "sh", "-c", "echo first; read x; echo second")
		run(nil, "start", "c6")
		cmd := exec.Command("docker", "logs", "-f", "c6")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+viaProxy, "DOCKER_CONFIG="+d.config)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(stdout)
		// "first" arrives while the container still runs: nothing waits
		// for the end of the stream.
		if line, err := br.ReadString('\n'); line != "first\n" {
			t.Errorf("logs -f first line %q, %v", line, err)
		}
		run(strings.NewReader("go\n"), "attach", "c6")
		rest, _ := io.ReadAll(br)
		cmd.Wait()
		if string(rest) != "second\n" {
			t.Errorf("logs -f rest %q", rest)
		}
	})
	t.Run("close ends the streams under way", func(t *testing.T) {
		var cmds []*exec.Cmd
		for _, args := range [][]string{{"logs", "-f", "c1"}, {"attach", "c1"}} {
			cmd := exec.Command("docker", args...)
			cmd.Env = append(os.Environ(), "DOCKER_HOST="+viaProxy, "DOCKER_CONFIG="+d.config)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			cmds = append(cmds, cmd)
		}
		// Both are being served once the proxy has logged them.
		for i := 0; i < 200 && strings.Count(logs.String(), `"path":"/v1.41/containers/c1/`) < 2; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if err := p.Close(); err != nil {
			t.Error(err)
		}
		for _, cmd := range cmds {
			cmd.Wait() // returns: the proxy closed the stream
		}
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("socket after Close: %v", err)
		}
	})
	for _, c := range []string{"c1", "c2", "c3", "n1", "n2", "n3", "c4", "c5", "c6", "d1", "d2"} {
		d.docker("rm", "-f", c)
	}
}
