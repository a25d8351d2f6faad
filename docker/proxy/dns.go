package proxy

import (
	"bytes"
	"encoding/json"
	"net/netip"

	"github.com/weave-switch/weave-switch/alloc"
)

// Nameserver is the router's DNS, as the proxy passes it to the
// containers it puts on the weave network (dns.Service has it).
type Nameserver interface {
	// Nameserver is the address a container with addresses addrs
	// queries (one in its subnet) and the search domain; ok is false
	// when there is none it reaches.
	Nameserver(addrs []netip.Addr) (addr netip.Addr, search string, ok bool)
}

// dnsProbe is an address in each subnet the container is to get an
// address in, for Nameserver: the container's own addresses are known
// only after the create. wt nil and onNetwork (the create names the
// default weave network) mean the default subnet.
func (s *Service) dnsProbe(wt *want, onNetwork bool) []netip.Addr {
	var out []netip.Addr
	if wt == nil {
		if onNetwork && s.cfg.Subnet.IsValid() {
			out = append(out, s.cfg.Subnet.Masked().Addr())
		}
		return out
	}
	for _, p := range wt.cidrs {
		out = append(out, p.Addr())
	}
	for _, spec := range wt.specs {
		if p, err := alloc.ParseSubnet(s.cfg.Range, s.cfg.Subnet, spec); err == nil && p.IsValid() {
			out = append(out, p.Masked().Addr())
		}
	}
	if len(wt.cidrs) == 0 && len(wt.specs) == 0 && s.cfg.Subnet.IsValid() {
		out = append(out, s.cfg.Subnet.Masked().Addr())
	}
	return out
}

// withDNS sets HostConfig.Dns to [ns] and HostConfig.DnsSearch to
// [search] in a create's body, keeping every other field as it is. A
// body whose user set either (docker run --dns, --dns-search) is left
// alone: changed is false.
func withDNS(body []byte, ns netip.Addr, search string) (out []byte, changed bool, err error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return body, false, err
	}
	if top == nil {
		return body, false, nil
	}
	hc := map[string]json.RawMessage{}
	if raw, ok := top["HostConfig"]; ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if err := json.Unmarshal(raw, &hc); err != nil {
			return body, false, err
		}
		if hc == nil {
			hc = map[string]json.RawMessage{}
		}
	}
	for _, k := range []string{"Dns", "DnsSearch"} {
		var set []string
		if raw, ok := hc[k]; ok {
			if err := json.Unmarshal(raw, &set); err != nil {
				return body, false, err
			}
		}
		if len(set) > 0 {
			return body, false, nil
		}
	}
	hc["Dns"], _ = json.Marshal([]string{ns.String()})
	hc["DnsSearch"], _ = json.Marshal([]string{search})
	if top["HostConfig"], err = json.Marshal(hc); err != nil {
		return body, false, err
	}
	if out, err = json.Marshal(top); err != nil {
		return body, false, err
	}
	return out, true, nil
}
