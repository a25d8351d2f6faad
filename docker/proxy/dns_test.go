package proxy

import (
	"context"
	"encoding/json"
	"net/netip"
	"testing"
)

// fakeNS serves DNS on 10.32.0.1 for 10.32.0.0/12 and 10.40.9.1 for
// 10.40.9.0/24.
type fakeNS struct{}

func (fakeNS) Nameserver(addrs []netip.Addr) (netip.Addr, string, bool) {
	for _, a := range addrs {
		switch {
		case netip.MustParsePrefix("10.40.9.0/24").Contains(a):
			return netip.MustParseAddr("10.40.9.1"), "weave.local", true
		case netip.MustParsePrefix("10.32.0.0/12").Contains(a):
			return netip.MustParseAddr("10.32.0.1"), "weave.local", true
		}
	}
	return netip.Addr{}, "", false
}

func TestPassDNS(t *testing.T) {
	s, _, _ := newTestService(t)
	s.cfg.DNS = fakeNS{}
	s.cfg.Subnet = netip.MustParsePrefix("10.32.0.0/12")
	s.cfg.Range = netip.MustParsePrefix("10.0.0.0/8")
	tests := []struct {
		name, body string
		dns        string // "" for no change
	}{
		{"automatic address", `{"Image":"i","HostConfig":{"Memory":5}}`, "10.32.0.1"},
		{"no HostConfig", `{"Image":"i"}`, "10.32.0.1"},
		{"null HostConfig", `{"Image":"i","HostConfig":null}`, "10.32.0.1"},
		{"explicit address in another subnet", `{"Env":["WEAVE_CIDR=10.40.9.5/24"]}`, "10.40.9.1"},
		{"net:CIDR", `{"Env":["WEAVE_CIDR=net:10.40.9.0/24"]}`, "10.40.9.1"},
		{"a subnet with no DNS address", `{"Env":["WEAVE_CIDR=net:10.64.0.0/24"]}`, ""},
		{"WEAVE_CIDR=none", `{"Env":["WEAVE_CIDR=none"]}`, ""},
		{"--dns given", `{"HostConfig":{"Dns":["9.9.9.9"]}}`, ""},
		{"--dns-search given", `{"HostConfig":{"DnsSearch":["example.com"]}}`, ""},
		{"empty --dns is none", `{"HostConfig":{"Dns":[],"DnsSearch":null}}`, "10.32.0.1"},
		{"the weave network itself", `{"HostConfig":{"NetworkMode":"weave"}}`, "10.32.0.1"},
		{"host network", `{"HostConfig":{"NetworkMode":"host"}}`, ""},
		{"another network of our driver (subnet unknown)", `{"HostConfig":{"NetworkMode":"other"}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wt, err := s.planCreate(context.Background(), []byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			nb, ok := s.passDNS([]byte(tt.body), wt)
			if tt.dns == "" {
				if ok {
					t.Fatalf("changed to %s", nb)
				}
				return
			}
			if !ok {
				t.Fatal("not changed")
			}
			var got struct {
				Image      string
				HostConfig struct {
					Dns, DnsSearch []string
					Memory         int
				}
			}
			if err := json.Unmarshal(nb, &got); err != nil {
				t.Fatal(err)
			}
			hc := got.HostConfig
			if len(hc.Dns) != 1 || hc.Dns[0] != tt.dns || len(hc.DnsSearch) != 1 || hc.DnsSearch[0] != "weave.local" {
				t.Errorf("%s", nb)
			}
			if tt.name == "automatic address" && (got.Image != "i" || hc.Memory != 5) {
				t.Errorf("other fields lost: %s", nb)
			}
		})
	}
}
