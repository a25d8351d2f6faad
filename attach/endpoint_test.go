package attach

import (
	"net/netip"
	"slices"
	"testing"
)

func TestEndpointNames(t *testing.T) {
	tests := []struct {
		id, host, cont string
		bad            bool
	}{
		{id: "0dd23951f15c3a7dbfd105313b8577efb67c60714280472b39cc777280e49997", host: "vwph0dd23951f1", cont: "vwpc0dd23951f1"},
		{id: "ABCDEFGHIJ", host: "vwphabcdefghij", cont: "vwpcabcdefghij"},
		{id: "short", bad: true},
		{id: "0123456789/x", bad: true},
		{id: "", bad: true},
	}
	for _, tt := range tests {
		h, c, err := EndpointNames(tt.id)
		if (err != nil) != tt.bad || h != tt.host || c != tt.cont {
			t.Errorf("EndpointNames(%q) = %q, %q, %v", tt.id, h, c, err)
		}
		if err == nil && (len(h) > 15 || len(c) > 15) {
			t.Errorf("names too long: %q %q", h, c)
		}
	}
}

func TestEndpointPort(t *testing.T) {
	ep := Endpoint{ID: "0123456789", HostVeth: "vwph0123456789", MAC: "02:00:00:00:00:01",
		Addrs: []netip.Prefix{netip.MustParsePrefix("10.32.0.5/13"), netip.MustParsePrefix("10.40.1.5/24")}}
	pt, err := ep.port()
	if err != nil {
		t.Fatal(err)
	}
	if pt.Ifname != ep.HostVeth || len(pt.Addrs) != 2 ||
		!slices.Equal(pt.Subnets, []netip.Prefix{netip.MustParsePrefix("10.32.0.0/13"), netip.MustParsePrefix("10.40.1.0/24")}) {
		t.Fatalf("port %+v", pt)
	}
	ep.Subnets = []netip.Prefix{netip.MustParsePrefix("10.32.0.0/13")}
	if pt, _ = ep.port(); len(pt.Subnets) != 1 {
		t.Fatalf("given subnets not kept: %+v", pt)
	}
	ep.MAC = "nope"
	if _, err := ep.port(); err == nil {
		t.Fatal("bad MAC accepted")
	}
}
