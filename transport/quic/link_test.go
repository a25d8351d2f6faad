package quictransport

import (
	"net/netip"
	"testing"

	meshlink "github.com/weave-switch/weave-switch/link"
)

// TestLink: two Links add each other from the caps they announce and the
// pinned connection comes up; caps without a hash or a port are refused;
// Remove drops the peer.
func TestLink(t *testing.T) {
	a, b := newNode(t, nameA), newNode(t, nameB)
	la, lb := NewLink(a.t, a.local.Port()), NewLink(b.t, b.local.Port())
	if la.Name() != "quic" || la.Transport() != a.t || !la.Encrypted() {
		t.Fatalf("link: %q %v %v", la.Name(), la.Transport(), la.Encrypted())
	}
	ip := netip.MustParseAddr("127.0.0.1")
	caps := lb.Caps()
	if _, err := la.Add(nameB, ip, map[string]string{CapPort: caps[CapPort]}, meshlink.Keys{}, true); err == nil {
		t.Error("Add without a certificate hash: no error")
	}
	if _, err := la.Add(nameB, ip, map[string]string{CapCertHash: caps[CapCertHash]}, meshlink.Keys{}, true); err == nil {
		t.Error("Add without a port: no error")
	}
	ep, err := la.Add(nameB, ip, caps, meshlink.Keys{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if ep.DstAddrPort() != netip.AddrPortFrom(ip, b.local.Port()) {
		t.Errorf("endpoint %v, want port %d", ep, b.local.Port())
	}
	if _, err := lb.Add(nameA, ip, la.Caps(), meshlink.Keys{}, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "connection", func() bool { return a.t.PeerConnected(nameB) && b.t.PeerConnected(nameA) })
	la.Remove(nameB)
	if a.t.PeerConnected(nameB) || la.PathMTU(nameB) != 0 {
		t.Error("peer still known after Remove")
	}
}
