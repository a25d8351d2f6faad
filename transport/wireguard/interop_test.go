package wireguard

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// repoRoot walks up from the package directory to go.mod.
func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("go.mod not found")
		}
		dir = parent
	}
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestStockWireGuardInterop runs the stock wireguard-go binary (built by
// scripts/deps.sh bench from the same module version) with wireguard-tools'
// wg in namespace B, and our Transport in namespace A, joined by a veth:
//
//	ns A: Transport (UDP 198.18.77.1:random) ==veth== ns B: wireguard-go wgt<pid> (198.18.77.2:51820)
//
// Our side sends a frame; the stock side must report a handshake and a
// packet written to its TUN device. Then B pings our link address: the
// ICMPv6 packet reaches our Transport (which counts it as not a frame).
func TestStockWireGuardInterop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("stock WireGuard interop needs root (network namespaces, TUN)")
	}
	wgBin := filepath.Join(repoRoot(t), "bin", "wireguard-go")
	for _, p := range []string{wgBin, "/dev/net/tun"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("stock WireGuard interop needs %s (scripts/deps.sh bench builds bin/wireguard-go): %v", p, err)
		}
	}
	for _, c := range []string{"wg", "ip", "ping"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("stock WireGuard interop needs %s: %v", c, err)
		}
	}
	pid := os.Getpid()
	nsA, nsB := fmt.Sprintf("ws-wgtA-%d", pid), fmt.Sprintf("ws-wgtB-%d", pid)
	dev := fmt.Sprintf("wgt%d", pid)
	for _, ns := range []string{nsA, nsB} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	vA, vB := fmt.Sprintf("wsa%d", pid), fmt.Sprintf("wsb%d", pid)
	run(t, "ip", "link", "add", vA, "netns", nsA, "type", "veth", "peer", "name", vB, "netns", nsB)
	run(t, "ip", "-n", nsA, "addr", "add", "198.18.77.1/24", "dev", vA)
	run(t, "ip", "-n", nsB, "addr", "add", "198.18.77.2/24", "dev", vB)
	for _, x := range [][2]string{{nsA, vA}, {nsB, vB}, {nsA, "lo"}, {nsB, "lo"}} {
		run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
	}

	cmd := exec.Command("ip", "netns", "exec", nsB, "env", "WG_PROCESS_FOREGROUND=1", wgBin, "-f", dev)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove("/var/run/wireguard/" + dev + ".sock")
	})
	sock := "/var/run/wireguard/" + dev + ".sock"
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("wireguard-go did not create " + sock)
		}
		time.Sleep(50 * time.Millisecond)
	}

	stockName := frame.PeerName(0x02000000bbbb)
	stockPriv := run(t, "wg", "genkey")
	pubCmd := exec.Command("wg", "pubkey")
	pubCmd.Stdin = strings.NewReader(stockPriv)
	pubOut, err := pubCmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	stockPub, err := ParseKey(string(pubOut))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "stock.key")
	if err := os.WriteFile(keyFile, []byte(stockPriv+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Our Transport, its socket bound (by Open) in namespace A.
	ourKey, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		tr  *Transport
		fns []transport.ReceiveFunc
		err error
	}
	rc := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(nsA)
		if err == nil {
			err = netns.Set(h)
			h.Close()
		}
		if err != nil {
			rc <- result{nil, nil, err}
			return
		}
		tr, err := New(Config{Self: nameA, Listen: netip.MustParseAddrPort("0.0.0.0:0"), PrivateKey: ourKey})
		if err != nil {
			rc <- result{nil, nil, err}
			return
		}
		fns, _, err := tr.Open()
		if err != nil {
			tr.Close()
		}
		rc <- result{tr, fns, err}
	}()
	r := <-rc
	if r.err != nil {
		t.Fatal(r.err)
	}
	tr, fns := r.tr, r.fns
	t.Cleanup(func() { tr.Close() })
	ourPub := tr.PublicKey()
	run(t, "wg", "set", dev, "listen-port", "51820", "private-key", keyFile,
		"peer", encodeKey(ourPub), "allowed-ips", "fd77:7773::/32")
	a := PeerAddr(stockName)
	run(t, "ip", "-n", nsB, "addr", "add", netip.AddrFrom16(a).String()+"/32", "dev", dev)
	run(t, "ip", "-n", nsB, "link", "set", dev, "up")

	ep := netip.MustParseAddrPort("198.18.77.2:51820")
	if err := tr.AddPeer(stockName, stockPub, ep); err != nil {
		t.Fatal(err)
	}
	b := frame.NewBatch(1, transport.MaxOverhead)
	copy(b.Room(0), testFrame(100, 3))
	b.Sizes[0], b.Meta[0], b.N = 100, frame.Meta{Src: nameA, Dst: stockName}, 1

	// rxPackets returns the packets the stock device wrote to its TUN
	// ("RX: bytes packets ..." then the numbers, in ip -s -o output).
	rxPackets := func() int {
		f := strings.Fields(run(t, "ip", "-n", nsB, "-s", "-o", "link", "show", dev))
		for i, w := range f {
			if w == "RX:" {
				for j := i + 1; j+1 < len(f); j++ {
					if _, err := strconv.Atoi(f[j]); err == nil {
						k, _ := strconv.Atoi(f[j+1])
						return k
					}
				}
			}
		}
		return -1
	}
	var hs, rx string
	var rxp int
	for i := 0; i < 50; i++ {
		if err := tr.Send(b, transport.AddrPortEndpoint(ep)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		hs = run(t, "wg", "show", dev, "latest-handshakes")
		rx = run(t, "wg", "show", dev, "transfer")
		rxp = rxPackets()
		if f := strings.Fields(hs); len(f) == 2 && f[1] != "0" && rxp > 0 {
			break
		}
	}
	if f := strings.Fields(hs); len(f) != 2 || f[1] == "0" || f[0] != encodeKey(ourPub) {
		t.Fatalf("stock wireguard-go reports no handshake with us: %q", hs)
	}
	if rxp <= 0 {
		t.Fatalf("no packet reached the stock TUN device: rx packets %d, transfer %q", rxp, rx)
	}
	t.Logf("stock peer: latest-handshakes %q, transfer %q, TUN rx packets %d", hs, rx, rxp)

	// The other direction: B pings our link address; the ICMPv6 echo
	// arrives through our device and is counted as not a frame.
	ours := netip.AddrFrom16(PeerAddr(nameA)).String()
	go func() {
		in, eps := frame.NewBatch(4, transport.MaxOverhead), make([]transport.Endpoint, 4)
		for {
			if _, err := fns[0](in, eps); err != nil {
				return
			}
		}
	}()
	for i := 0; i < 20 && tr.stats.RxMalformed.Load() == 0; i++ {
		exec.Command("ip", "netns", "exec", nsB, "ping", "-6", "-c1", "-W1", ours).Run()
	}
	if tr.stats.RxMalformed.Load() == 0 {
		t.Errorf("the stock peer's ping to %s did not reach our Transport", ours)
	}
}
