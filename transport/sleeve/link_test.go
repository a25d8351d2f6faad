package sleeve

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/link"
)

// TestLink: each end's Link adds the other from its caps and the
// handshake's keys; frames cross the encrypted Sleeves; Remove takes the
// keys away.
func TestLink(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	la, lb := NewLink(a.s, a.addr.Port()), NewLink(b.s, b.addr.Port())
	if la.Name() != "sleeve" || la.Transport() != a.s || !la.Encrypted() {
		t.Fatalf("link: %q %v %v", la.Name(), la.Transport(), la.Encrypted())
	}
	k1, k2 := [32]byte{1}, [32]byte{2}
	ip := netip.MustParseAddr("127.0.0.1")
	if _, err := la.Add(peerB, ip, map[string]string{}, link.Keys{Send: k1, Recv: k2, OK: true}, false); err == nil {
		t.Error("Add without a port: no error")
	}
	if _, err := la.Add(peerB, ip, lb.Caps(), link.Keys{}, false); err == nil {
		t.Error("Add without keys on an encrypting Sleeve: no error")
	}
	epB, err := la.Add(peerB, ip, lb.Caps(), link.Keys{Send: k1, Recv: k2, OK: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if epB.DstAddrPort() != b.addr {
		t.Errorf("endpoint %v, want %v", epB, b.addr)
	}
	if _, err := lb.Add(peerA, ip, la.Caps(), link.Keys{Send: k2, Recv: k1, OK: true}, false); err != nil {
		t.Fatal(err)
	}
	if got, want := la.PathMTU(peerB), a.s.PathMTU(ip); got != want || got == 0 {
		t.Errorf("PathMTU = %d, want %d", got, want)
	}
	out := makeBatch([]int{60, 1400})
	if err := a.s.Send(out, epB); err != nil {
		t.Fatal(err)
	}
	checkReceived(t, b.receiveN(t, makeBatch(repeat(2, 1400)), 2), out, a)
	la.Remove(peerB)
	if la.PathMTU(peerB) != 0 {
		t.Error("PathMTU of a removed peer is not 0")
	}
	if err := a.s.Send(out, epB); !errors.Is(err, ErrNoKey) {
		t.Errorf("Send after Remove: %v, want ErrNoKey", err)
	}
}
