package host

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/weave-switch/weave-switch/frame"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN) to create namespaces, bridges and TAPs")
	}
}

var (
	nsSeq   atomic.Int32
	swept   sync.Once
	nsStale = regexp.MustCompile(`^ws-test-(\d+)-\d+$`)
)

// sweepStale removes namespaces left by earlier runs of these tests whose
// process died before its cleanups ran (a panic kills the test binary).
func sweepStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		m := nsStale.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if _, err := os.Stat("/proc/" + m[1]); err == nil {
			continue // that run is still going
		}
		exec.Command("ip", "netns", "del", e.Name()).Run()
	}
}

// namedNS creates a network namespace under /run/netns with a name unique
// to this run, removed when the test ends.
func namedNS(t *testing.T) string {
	t.Helper()
	swept.Do(sweepStale)
	name := fmt.Sprintf("ws-test-%d-%d", os.Getpid(), nsSeq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return name
}

// inNS runs fn on a locked OS thread switched into the namespace called
// name; the thread is discarded afterwards, so no other goroutine ever
// runs in that namespace by accident.
func inNS(t *testing.T, name string, fn func()) {
	t.Helper()
	done := make(chan any)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		defer func() { done <- recover() }()
		h, err := netns.GetFromName(name)
		if err != nil {
			panic(err)
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			panic(err)
		}
		fn()
	}()
	if p := <-done; p != nil {
		t.Fatalf("in namespace %s: %v", name, p)
	}
}

func TestBridgeTAPAndAttach(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("offload=%v", offload), func(t *testing.T) { testBridgeTAPAndAttach(t, offload) })
	}
}

// toBatch copies frames into a batch with room for a virtio header.
func toBatch(frames [][]byte) (*frame.Batch, []int) {
	b := frame.NewBatch(len(frames), 16)
	idx := make([]int, len(frames))
	for i, f := range frames {
		b.Sizes[i] = copy(b.Room(i), f)
		idx[i] = i
	}
	b.N = len(frames)
	return b, idx
}

func testBridgeTAPAndAttach(t *testing.T, offload bool) {
	requireRoot(t)
	hostNS := namedNS(t)
	contNS := namedNS(t)
	inNS(t, hostNS, func() {
		br := Bridge{Name: "wst0", MTU: 1400}
		created, err := EnsureBridge(br)
		if err != nil || !created {
			t.Errorf("EnsureBridge = %v, %v; want created", created, err)
			return
		}
		if created, err := EnsureBridge(br); err != nil || created {
			t.Errorf("second EnsureBridge = %v, %v; want reuse", created, err)
		}
		// A non-bridge of the same name is refused.
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "wsnb0"}, PeerName: "wsnb1"}); err != nil {
			t.Errorf("add veth: %v", err)
		}
		if _, err := EnsureBridge(Bridge{Name: "wsnb0", MTU: 1400}); err == nil {
			t.Error("EnsureBridge accepted a veth")
		}

		tap1, err := OpenTAP("wst0-tap1", offload)
		if err != nil {
			t.Errorf("OpenTAP: %v", err)
			return
		}
		defer tap1.Close()
		tap2, err := OpenTAP("wst0-tap2", offload)
		if err != nil {
			t.Errorf("OpenTAP: %v", err)
			return
		}
		defer tap2.Close()
		for _, n := range []string{"wst0-tap1", "wst0-tap2"} {
			if err := SetMaster(n, "wst0", 1400); err != nil {
				t.Errorf("SetMaster: %v", err)
				return
			}
		}
		link, _ := netlink.LinkByName("wst0-tap1")
		if link == nil || link.Attrs().MTU != 1400 {
			t.Errorf("tap MTU not set: %+v", link)
		}

		// Frames written to one TAP come out of the other (the bridge
		// floods broadcasts), in order, in batches.
		var frames [][]byte
		for i := range 5 {
			f := make([]byte, 60)
			copy(f, frame.Broadcast[:])
			copy(f[6:], []byte{0x02, 0, 0, 0, 0, 0x42})
			f[12], f[13] = 0x88, 0xb5 // local experimental EtherType
			f[14] = byte(i)
			frames = append(frames, f)
		}
		time.Sleep(50 * time.Millisecond) // ports reach forwarding state
		if tap1.Offloads() != offload {
			t.Errorf("Offloads() = %v, want %v (kernel 6.x has them)", tap1.Offloads(), offload)
		}
		wb, widx := toBatch(frames)
		if n, err := tap1.Write(wb, widx); err != nil || n != len(frames) {
			t.Errorf("Write = %d, %v", n, err)
		}
		b := frame.NewBatch(8, 16)
		got := 0
		deadline := time.Now().Add(5 * time.Second)
		for got < len(frames) && time.Now().Before(deadline) {
			n, err := tap2.Read(b)
			if err != nil {
				t.Errorf("Read: %v", err)
				return
			}
			for i := range n {
				f := b.Frame(i)
				if len(f) < 15 || f[12] != 0x88 {
					continue // IPv6 autoconf noise from the kernel
				}
				if g := b.Meta[i].GSO; g.IsSuper() {
					t.Errorf("frame %d read with GSO %+v", got, g)
				}
				if !bytes.Equal(f, frames[got]) {
					t.Errorf("frame %d = %x, want %x", got, f, frames[got])
				}
				got++
			}
		}
		if got != len(frames) {
			t.Errorf("read %d of %d frames", got, len(frames))
		}

		// Attach a container namespace, idempotently, then detach it.
		path, err := NetNSPath(contNS)
		if err != nil {
			t.Errorf("NetNSPath: %v", err)
			return
		}
		addr := netip.MustParsePrefix("10.40.0.7/16")
		a, err := Attach("wst0", path, []netip.Prefix{addr}, 1400)
		if err != nil {
			t.Errorf("Attach: %v", err)
			return
		}
		if len(a.Addrs) != 1 || a.Addrs[0] != addr || a.MAC == "" {
			t.Errorf("Attach = %+v", a)
		}
		hv, err := netlink.LinkByName(a.HostVeth)
		if err != nil || hv.Attrs().MasterIndex == 0 {
			t.Errorf("host veth %s not on the bridge: %v", a.HostVeth, err)
		}
		second := netip.MustParsePrefix("10.41.0.7/16")
		if a2, err := Attach("wst0", path, []netip.Prefix{addr, second}, 1400); err != nil || len(a2.Addrs) != 2 {
			t.Errorf("second Attach = %+v, %v; want both addresses", a2, err)
		}
		if ok, err := Detach(path); !ok || err != nil {
			t.Errorf("Detach = %v, %v", ok, err)
		}
		if ok, err := Detach(path); ok || err != nil {
			t.Errorf("second Detach = %v, %v; want false, nil", ok, err)
		}
		if _, err := netlink.LinkByName(a.HostVeth); err == nil {
			t.Errorf("host veth %s still there after Detach", a.HostVeth)
		}

		if err := tap1.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := tap1.Write(wb, widx); err == nil {
			t.Error("Write after Close succeeded")
		}
		if err := DeleteLink("wst0"); err != nil {
			t.Errorf("DeleteLink: %v", err)
		}
		if err := DeleteLink("wst0"); err != nil {
			t.Errorf("DeleteLink of a missing link: %v", err)
		}
	})
}

func TestTAPCloseUnblocksRead(t *testing.T) {
	requireRoot(t)
	n := namedNS(t)
	inNS(t, n, func() {
		tap, err := OpenTAP("wst-block", true)
		if err != nil {
			t.Errorf("OpenTAP: %v", err)
			return
		}
		errc := make(chan error, 1)
		go func() {
			_, err := tap.Read(frame.NewBatch(4, 16))
			errc <- err
		}()
		time.Sleep(50 * time.Millisecond)
		tap.Close()
		select {
		case err := <-errc:
			if err == nil {
				t.Error("Read returned no error after Close")
			}
		case <-time.After(5 * time.Second):
			t.Error("Close did not unblock Read")
		}
	})
}

func TestNetNSPath(t *testing.T) {
	tests := []struct {
		name, spec, want, err string
	}{
		{name: "pid", spec: fmt.Sprint(os.Getpid()), want: fmt.Sprintf("/proc/%d/ns/net", os.Getpid())},
		{name: "path", spec: "/proc/self/ns/net", want: "/proc/self/ns/net"},
		{name: "missing name", spec: "ws-no-such-ns-xyz", err: "not found"},
		{name: "missing pid", spec: "999999999", err: "not found"},
		{name: "empty", spec: "", err: "no network namespace"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NetNSPath(tt.spec)
			if tt.err != "" {
				if err == nil || !bytes.Contains([]byte(err.Error()), []byte(tt.err)) {
					t.Fatalf("NetNSPath(%q) error = %v, want %q", tt.spec, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NetNSPath(%q) = %q, %v; want %q", tt.spec, got, err, tt.want)
			}
		})
	}
}

// TestTAPQueues opens a TAP with two queues: frames the bridge hands the
// TAP arrive on one queue or the other, none lost or duplicated.
func TestTAPQueues(t *testing.T) {
	requireRoot(t)
	n := namedNS(t)
	inNS(t, n, func() {
		if _, err := EnsureBridge(Bridge{Name: "wsq0", MTU: 1400}); err != nil {
			t.Errorf("EnsureBridge: %v", err)
			return
		}
		qs, err := OpenTAPQueues("wsq0-tap", 2, true)
		if err != nil || len(qs) != 2 {
			t.Errorf("OpenTAPQueues = %d queues, %v", len(qs), err)
			return
		}
		defer func() {
			for _, q := range qs {
				q.Close()
			}
		}()
		src, err := OpenTAP("wsq0-src", false)
		if err != nil {
			t.Errorf("OpenTAP: %v", err)
			return
		}
		defer src.Close()
		for _, name := range []string{"wsq0-tap", "wsq0-src"} {
			if err := SetMaster(name, "wsq0", 1400); err != nil {
				t.Errorf("SetMaster: %v", err)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
		const frames = 64
		var fs [][]byte
		for i := range frames {
			f := make([]byte, 60)
			copy(f, frame.Broadcast[:])
			copy(f[6:], []byte{0x02, 0, 0, 0, byte(i), 0x42}) // a flow per source
			f[12], f[13] = 0x88, 0xb5
			f[14] = byte(i)
			fs = append(fs, f)
		}
		wb, widx := toBatch(fs)
		if _, err := src.Write(wb, widx); err != nil {
			t.Errorf("Write: %v", err)
			return
		}
		seen := make(chan byte, 2*frames)
		for _, q := range qs {
			go func() {
				b := frame.NewBatch(16, 16)
				for {
					n, err := q.Read(b)
					if err != nil {
						return
					}
					for i := range n {
						if f := b.Frame(i); len(f) > 14 && f[12] == 0x88 {
							seen <- f[14]
						}
					}
				}
			}()
		}
		got := map[byte]int{}
		deadline := time.After(5 * time.Second)
		for len(got) < frames {
			select {
			case id := <-seen:
				got[id]++
				if got[id] > 1 {
					t.Errorf("frame %d read twice", id)
				}
			case <-deadline:
				t.Errorf("read %d of %d frames across the queues", len(got), frames)
				return
			}
		}
	})
}
