package host

import (
	"net/netip"
	"testing"
)

// LocalAddrs never offers loopback addresses, nor addresses in the
// overlay; with every address excluded by the overlay, none is left.
func TestLocalAddrs(t *testing.T) {
	for _, a := range LocalAddrs(nil, netip.Prefix{}) {
		if a.IsLoopback() || a.Is4In6() {
			t.Errorf("LocalAddrs offered %s", a)
		}
	}
	all4 := netip.MustParsePrefix("0.0.0.0/0")
	for _, a := range LocalAddrs(nil, all4) {
		if a.Is4() {
			t.Errorf("LocalAddrs offered %s, inside the overlay %s", a, all4)
		}
	}
}
