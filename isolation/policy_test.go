package isolation

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func addr(s string) netip.Addr  { return netip.MustParseAddr(s) }

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"empty", nil, []string{}},
		{"masks", []string{"10.40.1.5/24"}, []string{"10.40.1.0/24"}},
		{"duplicates", []string{"10.40.1.0/24", "10.40.1.9/24"}, []string{"10.40.1.0/24"}},
		{"contained dropped", []string{"10.40.1.0/24", "10.40.0.0/16", "10.41.0.0/24"}, []string{"10.40.0.0/16", "10.41.0.0/24"}},
		{"v4 before v6", []string{"fd00::/64", "10.0.0.0/8"}, []string{"10.0.0.0/8", "fd00::/64"}},
		{"v4 and v6 never cover each other", []string{"::/0", "10.0.0.0/8"}, []string{"10.0.0.0/8", "::/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []netip.Prefix
			for _, s := range tt.in {
				in = append(in, pfx(s))
			}
			var got []string
			for _, p := range Canonical(in) {
				got = append(got, p.String())
			}
			if got == nil {
				got = []string{}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Canonical(%v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// randPrefix draws from a small space so that overlaps are frequent.
func randPrefix(r *rand.Rand) netip.Prefix {
	a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(256))})
	return netip.PrefixFrom(a, 16+r.IntN(17)).Masked()
}

func anyContains(ps []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
}

// TestCanonicalMatchesReference: Canonical keeps exactly the addresses of
// its input, with no element inside another, over random inputs.
func TestCanonicalMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		in := make([]netip.Prefix, r.IntN(8))
		for i := range in {
			in[i] = randPrefix(r)
		}
		out := Canonical(in)
		for i, p := range out {
			for j, q := range out {
				if i != j && covers(p, q) {
					t.Fatalf("Canonical(%v) = %v: %s covers %s", in, out, p, q)
				}
			}
		}
		for range 50 {
			a := randPrefix(r).Addr().Next()
			if anyContains(in, a) != anyContains(out, a) {
				t.Fatalf("Canonical(%v) = %v: membership of %s differs", in, out, a)
			}
		}
	}
}

// acceptsRef is the obviously correct reference for Accepted: a port
// receives from src if src is in one of its subnets, or in one side of an
// allowed pair whose other side contains a whole subnet of the port.
func acceptsRef(p Policy, pt Port, src netip.Addr) bool {
	for _, s := range pt.Subnets {
		if s.Contains(src) {
			return true
		}
		for _, pr := range p.Allow {
			if pr.A.Bits() <= s.Bits() && pr.A.Contains(s.Addr()) && pr.B.Contains(src) {
				return true
			}
			if pr.B.Bits() <= s.Bits() && pr.B.Contains(s.Addr()) && pr.A.Contains(src) {
				return true
			}
		}
	}
	return false
}

func TestAcceptedMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		var p Policy
		for range r.IntN(4) {
			p.Allow = append(p.Allow, NewPair(randPrefix(r), randPrefix(r)))
		}
		pt := Port{Ifname: "vws1"}
		for range 1 + r.IntN(3) {
			pt.Subnets = append(pt.Subnets, randPrefix(r))
		}
		acc := p.Accepted(pt)
		for range 100 {
			a := randPrefix(r).Addr().Next()
			if got, want := anyContains(acc, a), acceptsRef(p, pt, a); got != want {
				t.Fatalf("policy %+v port %v: accepts %s = %v, reference says %v (accepted set %v)", p.Allow, pt.Subnets, a, got, want, acc)
			}
		}
	}
}

func TestNewPairIsSymmetric(t *testing.T) {
	a, b := pfx("10.40.2.0/24"), pfx("10.40.1.7/24")
	if NewPair(a, b) != NewPair(b, a) {
		t.Errorf("NewPair(a, b) = %v, NewPair(b, a) = %v", NewPair(a, b), NewPair(b, a))
	}
	if got := NewPair(a, b).String(); got != "10.40.1.0/24 10.40.2.0/24" {
		t.Errorf("String = %q", got)
	}
}

func TestPolicyValidate(t *testing.T) {
	good := Port{Ifname: "vws1", MAC: frame.MAC{2, 0, 0, 0, 0, 1}, Addrs: []netip.Addr{addr("10.40.1.5")}, Subnets: []netip.Prefix{pfx("10.40.1.0/24")}}
	tests := []struct {
		name string
		mod  func(p *Policy)
		want string // "" = valid
	}{
		{"valid", func(p *Policy) {}, ""},
		{"no name", func(p *Policy) { p.Ports[0].Ifname = "" }, "1 to 15"},
		{"long name", func(p *Policy) { p.Ports[0].Ifname = "vws0123456789abc" }, "1 to 15"},
		{"quote in name", func(p *Policy) { p.Ports[0].Ifname = `a"b` }, "only letters"},
		{"space in name", func(p *Policy) { p.Ports[0].Ifname = "a b" }, "only letters"},
		{"twice", func(p *Policy) { p.Ports = append(p.Ports, p.Ports[0]) }, "listed twice"},
		{"zero MAC", func(p *Policy) { p.Ports[0].MAC = frame.MAC{} }, "not a unicast MAC"},
		{"multicast MAC", func(p *Policy) { p.Ports[0].MAC = frame.MAC{1, 0, 0x5e, 0, 0, 1} }, "not a unicast MAC"},
		{"no address", func(p *Policy) { p.Ports[0].Addrs = nil }, "no address"},
		{"address outside subnets", func(p *Policy) { p.Ports[0].Addrs = []netip.Addr{addr("10.50.1.5")} }, "none of its subnets"},
		{"mixed pair", func(p *Policy) { p.Allow = []Pair{{pfx("10.0.0.0/8"), pfx("fd00::/8")}} }, "mixes IPv4 and IPv6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Ports: []Port{good}}
			p.Ports[0].Addrs = slices.Clone(good.Addrs)
			tt.mod(&p)
			err := p.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParsePair(t *testing.T) {
	want := NewPair(netip.MustParsePrefix("10.40.1.0/24"), netip.MustParsePrefix("10.40.2.0/24"))
	for _, s := range []string{"10.40.1.0/24,10.40.2.0/24", "10.40.2.0/24 10.40.1.0/24", "10.40.1.9/24, 10.40.2.0/24"} {
		got, err := ParsePair(s)
		if err != nil || got != want {
			t.Errorf("ParsePair(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "10.40.1.0/24", "10.40.1.0/24,fd00::/64", "a,b", "10.0.0.0/8,10.1.0.0/16,10.2.0.0/16"} {
		if _, err := ParsePair(s); err == nil {
			t.Errorf("ParsePair(%q) accepted", s)
		}
	}
}
