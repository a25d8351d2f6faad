package isolation

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/nstest"
)

// inNS runs fn on a thread in namespace ns, so that the Service's host
// calls (bridge addresses, IPv4 forwarding) act there.
func inNS(t *testing.T, ns string, fn func()) {
	t.Helper()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			done <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- err
			return
		}
		defer close(done)
		fn()
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// explicitAddrs hands out the explicit addresses it is given.
type explicitAddrs struct{}

func (explicitAddrs) Assign(_ context.Context, _ string, cidrs []netip.Prefix, _ []string) ([]netip.Prefix, func(), error) {
	return cidrs, func() {}, nil
}
func (explicitAddrs) Release(string) []netip.Addr { return nil }

func testPort(n byte) Port {
	return Port{Ifname: "vsave" + string('0'+n), MAC: frame.MAC{2, 0, 0, 0, 0, n},
		Addrs: []netip.Addr{netip.AddrFrom4([4]byte{10, 40, 1, n})}, Subnets: []netip.Prefix{netip.MustParsePrefix("10.40.1.0/24")}}
}

// A change that cannot be saved, or that nft refuses, fails and leaves
// the state, the file and the kernel's rules as they were.
func TestServiceChangeNotSaved(t *testing.T) {
	b := newBench(t)
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "host-side.json")
	s := NewService(ServiceConfig{Self: 1, Bridge: "br0", Isolate: true, DataDir: dir, NFT: b.nft})
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	chains := func() string {
		out, _ := nstest.Run(b.host, "nft", "list", "table", "bridge", TableName("br0"))
		return out
	}
	if _, err := s.SetPort(ctx, testPort(1)); err != nil {
		t.Fatal(err)
	}

	// The data directory is gone: the state cannot be saved.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPort(ctx, testPort(2)); err == nil || !strings.Contains(err.Error(), "save host side state") {
		t.Fatalf("SetPort with an unsavable state = %v, want a save error", err)
	}
	if _, ok := s.ports["vsave2"]; ok {
		t.Error("an unsaved port stayed in the state")
	}
	if strings.Contains(chains(), "vsave2") {
		t.Error("an unsaved port reached the kernel")
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetPort(ctx, testPort(2)); err != nil {
		t.Fatalf("SetPort once the directory is back: %v", err)
	}
	if !strings.Contains(chains(), "vsave2") {
		t.Error("the port is not in the kernel")
	}

	// nft refuses the transaction: the file is put back.
	nft := s.cfg.NFT
	s.cfg.NFT = NFT{Command: []string{"false"}}
	if _, err := s.SetPort(ctx, testPort(3)); err == nil {
		t.Fatal("SetPort succeeded with nft failing")
	}
	s.cfg.NFT = nft
	st, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(st), "vsave3") || !strings.Contains(string(st), "vsave2") {
		t.Errorf("state file after a refused change: %s", st)
	}
	if _, ok := s.ports["vsave3"]; ok {
		t.Error("a refused port stayed in the state")
	}
}

// IPv4 forwarding that NAT turned on goes back to its value when no NAT
// rule needs it, on Close, and after a crash at the next start.
func TestIPForwardRestored(t *testing.T) {
	b := newBench(t)
	dir := t.TempDir()
	cfg := ServiceConfig{Self: 1, Bridge: "br0", Isolate: true, DataDir: dir, NFT: b.nft, Addresses: explicitAddrs{}}
	ctx := context.Background()
	exposed := api.ExposeRequest{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.40.9.1/24")}, Masquerade: true}
	inNS(t, b.host, func() {
		fwd := func() string {
			v, err := host.IPForward()
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		if fwd() != "0" {
			t.Fatalf("a new namespace forwards: %s", fwd())
		}
		s := NewService(cfg)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expose(ctx, exposed); err != nil {
			t.Fatal(err)
		}
		if fwd() != "1" {
			t.Fatal("masquerading did not turn forwarding on")
		}
		if _, err := s.Hide(ctx, api.ExposeRequest{}); err != nil {
			t.Fatal(err)
		}
		if fwd() != "0" {
			t.Error("forwarding stayed on after the last NAT rule went")
		}
		if _, err := s.Expose(ctx, exposed); err != nil {
			t.Fatal(err)
		}
		if st, _ := os.ReadFile(filepath.Join(dir, "host-side.json")); !strings.Contains(string(st), `"ip_forward_before":"0"`) {
			t.Errorf("the state file does not record forwarding: %s", st)
		}

		// A crash: the goroutine stops, nothing is undone.
		close(s.stop)
		s.done.Wait()

		s = NewService(cfg)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if fwd() != "1" {
			t.Error("forwarding is off while the restored NAT rules need it")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if fwd() != "0" {
			t.Error("Close after a crash did not restore forwarding")
		}

		// A crash after which no NAT rule is left: the next start restores
		// forwarding at once.
		s = NewService(cfg)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Expose(ctx, exposed); err != nil {
			t.Fatal(err)
		}
		close(s.stop)
		s.done.Wait()
		st, err := os.ReadFile(filepath.Join(dir, "host-side.json"))
		if err != nil {
			t.Fatal(err)
		}
		// The address is no longer masqueraded in the file, as if changed just
		// before the crash while forwarding was still on.
		st = []byte(strings.Replace(string(st), `"Masquerade":true`, `"Masquerade":false`, 1))
		if err := os.WriteFile(filepath.Join(dir, "host-side.json"), st, 0o600); err != nil {
			t.Fatal(err)
		}
		s = NewService(cfg)
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if fwd() != "0" {
			t.Error("the start after a crash did not restore forwarding")
		}
		s.Close()
	})
}
