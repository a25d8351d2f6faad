package daemon

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/isolation"
)

func TestParsePair(t *testing.T) {
	want := isolation.NewPair(netip.MustParsePrefix("10.40.1.0/24"), netip.MustParsePrefix("10.40.2.0/24"))
	for _, s := range []string{"10.40.1.0/24,10.40.2.0/24", "10.40.2.0/24 10.40.1.0/24", "10.40.1.9/24, 10.40.2.0/24"} {
		got, err := parsePair(s)
		if err != nil || got != want {
			t.Errorf("parsePair(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "10.40.1.0/24", "10.40.1.0/24,fd00::/64", "a,b", "10.0.0.0/8,10.1.0.0/16,10.2.0.0/16"} {
		if _, err := parsePair(s); err == nil {
			t.Errorf("parsePair(%q) accepted", s)
		}
	}
	err := Config{Allow: []string{"10.40.1.0/24"}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "--allow") {
		t.Errorf("Validate with a bad --allow = %v", err)
	}
}

func TestAppSubnet(t *testing.T) {
	if got := appSubnet(netip.MustParsePrefix("10.40.1.5/24")); got != netip.MustParsePrefix("10.40.1.0/24") {
		t.Errorf("appSubnet = %v", got)
	}
}
