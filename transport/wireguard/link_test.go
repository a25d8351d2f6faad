package wireguard

import (
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/link"
)

// TestLink: a Link adds a peer from the caps the peer's Link announces,
// refuses caps without a key or a port, and Remove removes the peer.
func TestLink(t *testing.T) {
	a, b := newT(t, nameA), newT(t, nameB)
	if _, _, err := a.Open(); err != nil {
		t.Fatal(err)
	}
	_, lb, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	la, lkb := NewLink(a, 0), NewLink(b, lb.Port())
	if la.Name() != "wireguard" || la.Transport() != a || !la.Encrypted() {
		t.Fatalf("link: %q %v %v", la.Name(), la.Transport(), la.Encrypted())
	}
	ip := netip.MustParseAddr("127.0.0.1")
	caps := lkb.Caps()
	if k, err := ParseKey(caps[CapPublicKey]); err != nil || k != b.PublicKey() {
		t.Fatalf("announced key %q: %v", caps[CapPublicKey], err)
	}
	if _, err := la.Add(nameB, ip, map[string]string{CapPort: caps[CapPort]}, link.Keys{}, false); err == nil {
		t.Error("Add without a key: no error")
	}
	if _, err := la.Add(nameB, ip, map[string]string{CapPublicKey: caps[CapPublicKey]}, link.Keys{}, false); err == nil {
		t.Error("Add without a port: no error")
	}
	ep, err := la.Add(nameB, ip, caps, link.Keys{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if ep.DstAddrPort() != netip.AddrPortFrom(ip, lb.Port()) {
		t.Errorf("endpoint %v, want port %d", ep, lb.Port())
	}
	if got := la.Endpoint(nameB); got != ep.DstAddrPort() {
		t.Errorf("endpoint in use %v, want %v", got, ep)
	}
	if la.PathMTU(nameB) == 0 {
		t.Error("PathMTU of an added peer is 0")
	}
	la.Remove(nameB)
	if la.PathMTU(nameB) != 0 {
		t.Error("PathMTU of a removed peer is not 0")
	}
}
