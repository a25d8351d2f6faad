package mesh

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

func TestAdmissionPerSource(t *testing.T) {
	now := time.Unix(100, 0)
	a := newAdmission(func() time.Time { return now })
	x, y := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	// x spends its burst; each handshake ends at once.
	for i := range sourceBurst {
		if ok, why := a.admit(x); !ok {
			t.Fatalf("handshake %d of the burst refused: %s", i, why)
		}
		a.release(x)
	}
	if ok, why := a.admit(x); ok || why != RefusedRate {
		t.Fatalf("after the burst: admit = %v %q, want refused for rate", ok, why)
	}
	// Another source is not affected.
	if ok, _ := a.admit(y); !ok {
		t.Fatal("another source refused")
	}
	a.release(y)
	// The bucket refills at sourceRate.
	now = now.Add(time.Duration(float64(time.Second) / sourceRate))
	if ok, _ := a.admit(x); !ok {
		t.Fatal("refused after a refill")
	}
	a.release(x)
	// Handshakes in progress: per source.
	now = now.Add(time.Hour)
	for range sourceConcurrent {
		if ok, why := a.admit(x); !ok {
			t.Fatalf("refused below the per-source cap: %s", why)
		}
	}
	if ok, why := a.admit(x); ok || why != RefusedSourceBusy {
		t.Fatalf("above the per-source cap: admit = %v %q", ok, why)
	}
	for range sourceConcurrent {
		a.release(x)
	}
	// An IPv6 source is its /64.
	p1, p2 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	for range sourceConcurrent {
		if ok, _ := a.admit(p1); !ok {
			t.Fatal("IPv6 source refused below the cap")
		}
	}
	if ok, why := a.admit(p2); ok || why != RefusedSourceBusy {
		t.Errorf("another address of the same /64: admit = %v %q, want refused as busy", ok, why)
	}
	for range sourceConcurrent {
		a.release(p1)
	}
	got := a.refusals()
	if got[RefusedRate] != 1 || got[RefusedSourceBusy] != 2 || len(got) != len(RefusalReasons) {
		t.Errorf("refusals = %v", got)
	}
}

func TestAdmissionGlobalCap(t *testing.T) {
	now := time.Unix(100, 0)
	a := newAdmission(func() time.Time { return now })
	var in []netip.Addr
	for i := 0; len(in) < maxConcurrent; i++ {
		addr := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if ok, why := a.admit(addr); !ok {
			t.Fatalf("refused below the global cap: %s", why)
		}
		in = append(in, addr)
	}
	fresh := netip.MustParseAddr("192.0.2.9")
	if ok, why := a.admit(fresh); ok || why != RefusedBusy {
		t.Fatalf("above the global cap: admit = %v %q", ok, why)
	}
	a.release(in[0])
	if ok, _ := a.admit(fresh); !ok {
		t.Fatal("refused after a slot was freed")
	}
}

// TestAdmissionSpray: a spray of source addresses does not grow the table
// past maxSources, and sources with a handshake in progress keep their
// count through the evictions.
func TestAdmissionSpray(t *testing.T) {
	now := time.Unix(100, 0)
	a := newAdmission(func() time.Time { return now })
	busy := netip.MustParseAddr("192.0.2.1")
	for range sourceConcurrent {
		a.admit(busy)
	}
	for i := range 10 * maxSources {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, why := a.admit(addr); !ok {
			t.Fatalf("spray address %d refused: %s", i, why)
		}
		a.release(addr)
		if n := a.tracked(); n > maxSources {
			t.Fatalf("%d sources tracked, max %d", n, maxSources)
		}
	}
	if ok, why := a.admit(busy); ok || why != RefusedSourceBusy {
		t.Errorf("a busy source after the spray: admit = %v %q, want busy", ok, why)
	}
}

// flood connects to addr from local address from as fast as it can and
// never says a word, until stop is closed. It closes the connections the
// listener closed and keeps the others open (the listener's handshake
// deadline ends them). It returns how many it opened.
func flood(t *testing.T, from, addr string, stop <-chan struct{}) int {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	var one [1]byte
	n := 0
	for {
		select {
		case <-stop:
			return n
		default:
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Errorf("flood from %s: %v", from, err)
			return n
		}
		n++
		open = append(open, c)
		kept := open[:0]
		for _, c := range open {
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(one[:]); errors.Is(err, os.ErrDeadlineExceeded) {
				kept = append(kept, c)
			} else {
				c.Close()
			}
		}
		open = kept
		if len(open) > 256 { // the listener is slow to close: do not hoard descriptors
			open[0].Close()
			open = open[1:]
		}
	}
}

// TestHandshakeFlood: connects that never finish a handshake, from several
// source addresses, do not keep a real peer from another address out; the
// refusals are counted by reason, in the status and the metrics, and the
// goroutines stay bounded.
func TestHandshakeFlood(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	a := startNode(t, 0x020000000001, "flood", true)
	defer a.m.Close()
	before := runtime.NumGoroutine()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	sources := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}
	var mu sync.Mutex
	dials := 0
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := flood(t, src, a.addr(), stop)
			mu.Lock()
			dials += n
			mu.Unlock()
		}()
	}
	stopped := false
	stopFlood := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopFlood()
	refusedBefore := func() uint64 {
		r := a.status().HandshakesRefused
		return r[RefusedRate] + r[RefusedSourceBusy]
	}
	waitFor(t, "the flood to be refused", func() bool { return refusedBefore() > 100 })
	// A real peer, dialing from 127.0.0.1, joins during the flood.
	b := startNode(t, 0x020000000002, "flood", true, a.addr())
	defer b.m.Close()
	maxG := 0
	waitFor(t, "a real peer established during the flood", func() bool {
		maxG = max(maxG, runtime.NumGoroutine())
		return a.established() == 1 && b.established() == 1
	})
	stopFlood()
	// Handshakes in progress on a: at most sourceConcurrent per flooding
	// source, one goroutine each; b and its link add a few dozen.
	if limit := before + len(sources)*sourceConcurrent + 100; maxG > limit {
		t.Errorf("%d goroutines during the flood, started with %d", maxG, before)
	}
	if n := a.m.admission.tracked(); n > len(sources)+1 {
		t.Errorf("%d sources tracked, want at most %d", n, len(sources)+1)
	}
	got := a.status().HandshakesRefused
	if got[RefusedRate]+got[RefusedSourceBusy] == 0 || got[RefusedBusy] != 0 || len(got) != len(RefusalReasons) {
		t.Errorf("refusals = %v after %d connects", got, dials)
	}
	t.Logf("%d connects, refused %v, peak %d goroutines (from %d)", dials, got, maxG, before)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.m.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "weave_switch_handshakes_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			series[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if len(series) != len(RefusalReasons) || series[RefusedRate]+series[RefusedSourceBusy] == 0 {
		t.Errorf("weave_switch_handshakes_refused_total = %v", series)
	}
	b.m.Close()
	a.m.Close()
}
