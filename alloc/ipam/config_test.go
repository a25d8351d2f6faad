package ipam

import (
	"testing"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/frame"
)

func TestParseRange(t *testing.T) {
	if p, err := ParseRange(""); err != nil || p != alloc.DefaultUniverse {
		t.Errorf(`ParseRange("") = %v, %v`, p, err)
	}
	if p, err := ParseRange("10.40.7.9/16"); err != nil || p.String() != "10.40.0.0/16" {
		t.Errorf("ParseRange = %v, %v", p, err)
	}
	for _, s := range []string{"10.0.0.0/7", "10.0.0.0/31", "fd00::/64", "nope"} {
		if _, err := ParseRange(s); err == nil {
			t.Errorf("ParseRange(%q) accepted", s)
		}
	}
}

func TestParseSeeds(t *testing.T) {
	self := frame.PeerName(0x020000000001)
	if s, yield, err := ParseSeeds(nil, self, false); err != nil || len(s) != 1 || s[0] != self || !yield {
		t.Errorf("first router: %v, %v, %v", s, yield, err)
	}
	if s, yield, err := ParseSeeds(nil, self, true); err != nil || len(s) != 0 || yield {
		t.Errorf("joining router: %v, %v, %v", s, yield, err)
	}
	if s, yield, err := ParseSeeds([]string{"02:00:00:00:00:02"}, self, false); err != nil || len(s) != 1 || yield {
		t.Errorf("given seeds: %v, %v, %v", s, yield, err)
	}
	if _, _, err := ParseSeeds([]string{"zz"}, self, false); err == nil {
		t.Error("a bad seed was accepted")
	}
}
