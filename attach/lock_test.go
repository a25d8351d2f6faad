package attach

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/isolation"
)

// overlapAddrs is an allocator that notices when two calls for one key
// run at once. Each call stays a while, so that a missing lock shows.
type overlapAddrs struct {
	mu       sync.Mutex
	inFlight map[string]int
	overlaps atomic.Int32
	calls    atomic.Int32
	// entered, if set, is called with the key inside each Assign.
	entered func(key string)
}

func (a *overlapAddrs) enter(key string) {
	a.mu.Lock()
	a.inFlight[key]++
	if a.inFlight[key] > 1 {
		a.overlaps.Add(1)
	}
	a.mu.Unlock()
	a.calls.Add(1)
	time.Sleep(2 * time.Millisecond)
}

func (a *overlapAddrs) leave(key string) {
	a.mu.Lock()
	a.inFlight[key]--
	a.mu.Unlock()
}

func (a *overlapAddrs) Assign(_ context.Context, key string, _ []netip.Prefix, _ []string) ([]netip.Prefix, func(), error) {
	a.enter(key)
	defer a.leave(key)
	if a.entered != nil {
		a.entered(key)
	}
	return []netip.Prefix{netip.MustParsePrefix("10.40.0.1/24")}, func() {}, nil
}

func (a *overlapAddrs) Release(key string) []netip.Addr {
	a.enter(key)
	defer a.leave(key)
	return nil
}

type nopPorts struct{}

func (nopPorts) SetPort(context.Context, isolation.Port) (func(), error) { return func() {}, nil }
func (nopPorts) RemovePort(context.Context, string) error                { return nil }

type nopSwitch struct{}

func (nopSwitch) ClaimMAC(frame.MAC) bool  { return false }
func (nopSwitch) ForgetMAC(frame.MAC) bool { return false }

// nsFile stands in for a namespace: attach stats its path and names the
// veth after its inode. With no bridge the attach itself fails, after
// the address was assigned (and is then released by the undo).
func nsFile(t *testing.T, name string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newLockTest(addrs *overlapAddrs) *Service {
	return New(Config{Bridge: "ws-no-such-br", MTU: 1400, Addresses: addrs, Ports: nopPorts{}, Switch: nopSwitch{}})
}

// Concurrent attaches and detaches of one namespace run one at a time.
func TestAttachDetachSerialised(t *testing.T) {
	addrs := &overlapAddrs{inFlight: map[string]int{}}
	s := newLockTest(addrs)
	ns := nsFile(t, "ns1")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 0 {
				s.Attach(context.Background(), api.AttachRequest{NetNS: ns})
			} else {
				s.Detach(context.Background(), api.DetachRequest{NetNS: ns})
			}
		})
	}
	wg.Wait()
	if n := addrs.overlaps.Load(); n > 0 {
		t.Errorf("%d allocator calls for one namespace overlapped", n)
	}
	if addrs.calls.Load() < 16 {
		t.Errorf("only %d allocator calls", addrs.calls.Load())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.busy) != 0 {
		t.Errorf("locks left behind: %v", s.busy)
	}
}

// Attaches of different namespaces do not wait for each other.
func TestAttachParallelNamespaces(t *testing.T) {
	addrs := &overlapAddrs{inFlight: map[string]int{}}
	nsA, nsB := nsFile(t, "a"), nsFile(t, "b")
	in := map[string]chan struct{}{nsA: make(chan struct{}), nsB: make(chan struct{})}
	addrs.entered = func(key string) {
		close(in[key])
		other := nsA
		if key == nsA {
			other = nsB
		}
		select {
		case <-in[other]:
		case <-time.After(5 * time.Second):
			t.Errorf("the attach of %s waited for the attach of another namespace", key)
		}
	}
	s := newLockTest(addrs)
	var wg sync.WaitGroup
	for _, ns := range []string{nsA, nsB} {
		wg.Go(func() { s.Attach(context.Background(), api.AttachRequest{NetNS: ns}) })
	}
	wg.Wait()
}
