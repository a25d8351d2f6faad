package api

import (
	"net/netip"
	"slices"
	"testing"
)

func TestParseAddrSpecs(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		cidrs   []netip.Prefix
		subnets []string
		wantErr bool
	}{
		{"none", nil, nil, nil, false},
		{"mixed, order kept", []string{"app:web", "10.32.0.5/12", "net:10.32.4.0/24", "10.32.0.6/12", "net:default"},
			[]netip.Prefix{netip.MustParsePrefix("10.32.0.5/12"), netip.MustParsePrefix("10.32.0.6/12")},
			[]string{"app:web", "net:10.32.4.0/24", "net:default"}, false},
		{"no prefix length", []string{"10.32.0.5"}, nil, nil, true},
		{"a name", []string{"web"}, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cidrs, subnets, err := ParseAddrSpecs(tt.in)
			if (err != nil) != tt.wantErr || !slices.Equal(cidrs, tt.cidrs) || !slices.Equal(subnets, tt.subnets) {
				t.Errorf("ParseAddrSpecs(%q) = %v, %q, %v", tt.in, cidrs, subnets, err)
			}
		})
	}
}
