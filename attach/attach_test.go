package attach

import (
	"net/netip"
	"testing"
)

func TestAppSubnet(t *testing.T) {
	if got := appSubnet(netip.MustParsePrefix("10.40.1.5/24")); got != netip.MustParsePrefix("10.40.1.0/24") {
		t.Errorf("appSubnet = %v", got)
	}
}
