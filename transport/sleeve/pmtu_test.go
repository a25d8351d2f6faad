package sleeve

import (
	"net/netip"
	"testing"
	"time"
)

func TestPMTUTable(t *testing.T) {
	var tb pmtuTable
	now := time.Unix(1000, 0)
	a, b := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	if got := tb.lookup(a, now); got != 0 {
		t.Fatalf("empty table: lookup = %d", got)
	}
	tb.store(a, 1280, now)
	tb.store(b, 1400, now.Add(time.Minute))
	if got := tb.lookup(a, now.Add(time.Second)); got != 1280 {
		t.Errorf("lookup(a) = %d, want 1280", got)
	}
	if got := tb.lookup(a, now.Add(pmtuTTL+time.Second)); got != 0 {
		t.Errorf("lookup(a) after the TTL = %d, want 0 (back to the configured MTU)", got)
	}
	if got := tb.snapshot(now.Add(pmtuTTL + time.Second)); len(got) != 1 || got["198.18.0.2"] != 1400 {
		t.Errorf("snapshot after a's TTL = %v, want only b", got)
	}
}

func TestDatagramLimitFollowsLearnedPMTU(t *testing.T) {
	now := time.Unix(1000, 0)
	s, err := New(Config{Self: 0x020000000001, Listen: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	dst := netip.MustParseAddr("198.18.0.2")
	if got := s.datagramLimit(dst); got != DefaultUnderlayMTU-ipv4UDPOverhead {
		t.Fatalf("limit = %d, want %d", got, DefaultUnderlayMTU-ipv4UDPOverhead)
	}
	s.pmtu.store(dst, 1280, now)
	if got := s.datagramLimit(dst); got != 1280-ipv4UDPOverhead {
		t.Errorf("limit after learning 1280 = %d, want %d", got, 1280-ipv4UDPOverhead)
	}
	if got := s.datagramLimit(netip.MustParseAddr("198.18.0.3")); got != DefaultUnderlayMTU-ipv4UDPOverhead {
		t.Errorf("another peer's limit changed: %d", got)
	}
}

// The kernel's answer for a loopback destination is the loopback MTU.
func TestKernelPMTU(t *testing.T) {
	mtu, err := kernelPMTU(netip.MustParseAddrPort("127.0.0.1:9"))
	if err != nil {
		t.Skip("path MTU query not available:", err)
	}
	if mtu < MinUnderlayMTU {
		t.Errorf("kernelPMTU(loopback) = %d", mtu)
	}
}
