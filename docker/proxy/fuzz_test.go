package proxy

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/api"
)

// FuzzCreateBody runs a create's body through what the proxy decides on
// it: the decoder and the WEAVE_CIDR parser.
func FuzzCreateBody(f *testing.F) {
	for _, s := range []string{
		`{"Image":"busybox","Env":["WEAVE_CIDR=10.32.1.5/12 app:web"],"HostConfig":{"NetworkMode":"bridge"}}`,
		`{"Env":["WEAVE_CIDR=none"]}`,
		`{"HostConfig":{"Dns":["1.1.1.1"],"DnsSearch":null}}`,
		`{"HostConfig":null}`,
		`{"Env":["WEAVE_CIDR=net:10.32.4.0/24 net:default"],"HostConfig":{"NetworkMode":"container:x"}}`,
		`{"Env":["WEAVE_CIDR="]}`,
		// Malformed: truncated, wrong types, an address without a length.
		`{"Env":["WEAVE_CIDR=10.32`,
		`{"Env":[1,2],"HostConfig":"x"}`,
		`{"Env":["WEAVE_CIDR=10.32.1.5"]}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Giving the body the DNS keeps it JSON, and a second time
		// changes nothing (the nameserver is then the user's).
		if nb, changed, err := withDNS(body, netip.MustParseAddr("10.32.0.1"), "weave.local"); err == nil && changed {
			if !json.Valid(nb) {
				t.Fatalf("withDNS made %q of %q", nb, body)
			}
			if _, again, _ := withDNS(nb, netip.MustParseAddr("10.32.0.2"), "x"); again {
				t.Fatalf("withDNS changed its own output %q", nb)
			}
		}
		cidr, set, _, err := decodeCreate(body)
		if err != nil {
			if cidr != "" || set {
				t.Fatalf("decode failed (%v) but returned WEAVE_CIDR %q, %v", err, cidr, set)
			}
			return
		}
		if !set && cidr != "" {
			t.Fatalf("WEAVE_CIDR %q without being set", cidr)
		}
		w, err := parseWeaveCIDR(cidr)
		if err != nil {
			if w != nil {
				t.Fatalf("parse error %v with a result %+v", err, w)
			}
			return
		}
		if w == nil {
			if strings.TrimSpace(cidr) != "none" {
				t.Fatalf("%q left the container alone", cidr)
			}
			return
		}
		for _, p := range w.cidrs {
			if !p.IsValid() || !p.Addr().Is4() {
				t.Fatalf("%q gave the address %v", cidr, p)
			}
		}
		for _, s := range w.specs {
			if !strings.HasPrefix(s, "net:") && !strings.HasPrefix(s, "app:") {
				t.Fatalf("%q gave the subnet spec %q", cidr, s)
			}
		}
		// What parsed once parses the same from its parts.
		var parts []string
		for _, p := range w.cidrs {
			parts = append(parts, p.String())
		}
		parts = append(parts, w.specs...)
		cidrs, specs, err := api.ParseAddrSpecs(parts)
		if err != nil || len(cidrs) != len(w.cidrs) || len(specs) != len(w.specs) {
			t.Fatalf("reparsing %q: %v, %v, %v", parts, cidrs, specs, err)
		}
	})
}
