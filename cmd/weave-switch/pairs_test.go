package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

// up --allow and allow/deny take the same ways of writing a pair.
func TestPairsOneSyntax(t *testing.T) {
	a, b := "10.40.1.0/24", "10.40.2.0/24"
	for _, args := range [][]string{{a, b}, {a + "," + b}, {a + ", " + b}} {
		pa, pb, err := parsePairArgs("allow", args)
		if err != nil || pa.String() != a || pb.String() != b {
			t.Errorf("allow %q = %s %s, %v", args, pa, pb, err)
		}
		up, err := splitPairs([]string{strings.Join(args, " ")})
		if err != nil || !slices.Equal(up, []string{a + "," + b}) {
			t.Errorf("up --allow %q = %q, %v", strings.Join(args, " "), up, err)
		}
	}
	for _, args := range [][]string{{a}, {a, b, a}, {a + "," + b, a}, {"10.40.1.0/24", "nope"}} {
		if _, _, err := parsePairArgs("allow", args); err == nil {
			t.Errorf("allow %q: no error", args)
		}
	}
	// Several pairs in one value (WEAVE_SWITCH_ALLOW, a config file's
	// list item), and repeated flags.
	got, err := splitPairs([]string{a + "," + b + " 10.40.3.0/24,10.40.4.0/24", "10.40.5.0/24 10.40.6.0/24"})
	want := []string{a + "," + b, "10.40.3.0/24,10.40.4.0/24", "10.40.5.0/24,10.40.6.0/24"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("splitPairs = %q, %v; want %q", got, err, want)
	}
	if _, err := splitPairs([]string{a + "," + b + " " + a}); err == nil {
		t.Error("an odd number of subnets in --allow: no error")
	}
}

// hide takes what expose takes.
func TestExposeHideArgs(t *testing.T) {
	args := []string{"10.32.0.254/12", "net:10.40.1.0/24", "net:default", "app:web"}
	want := api.ExposeRequest{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.32.0.254/12")},
		Subnets: []string{"net:10.40.1.0/24", "net:default", "app:web"}}
	for _, cmd := range []string{"expose", "hide"} {
		got, err := exposeRequest(cmd, args)
		if err != nil || !slices.Equal(got.CIDRs, want.CIDRs) || !slices.Equal(got.Subnets, want.Subnets) {
			t.Errorf("%s %q = %+v, %v", cmd, args, got, err)
		}
		if _, err := exposeRequest(cmd, []string{"web"}); err == nil {
			t.Errorf("%s web: no error", cmd)
		}
	}
	app := newApp()
	if e, h := app.Command("expose"), app.Command("hide"); e.ArgsUsage != h.ArgsUsage {
		t.Errorf("expose takes %q, hide %q", e.ArgsUsage, h.ArgsUsage)
	}
}

// Every flag's help says its default once: a default that is not the
// flag's value goes in DefaultText, not in the usage next to the value
// urfave/cli prints anyway.
func TestHelpDefaultsOnce(t *testing.T) {
	app := newApp()
	flags := map[string][]cli.Flag{"": app.Flags}
	for _, c := range app.Commands {
		flags[c.Name] = c.Flags
	}
	for cmd, fs := range flags {
		for _, f := range fs {
			s := cli.FlagStringer(f)
			if n := strings.Count(strings.ToLower(s), "default:"); n > 1 {
				t.Errorf("%s --%s says its default %d times: %s", cmd, f.Names()[0], n, s)
			}
			if u, ok := f.(cli.DocGenerationFlag); ok && strings.Contains(strings.ToLower(u.GetUsage()), "default:") {
				t.Errorf("%s --%s has its default in the usage: %s", cmd, f.Names()[0], u.GetUsage())
			}
		}
	}
	// --listen is the control port too.
	for _, f := range upFlags {
		if f.Names()[0] == "listen" {
			if s := cli.FlagStringer(f); !strings.Contains(s, "TCP") || !strings.Contains(s, "UDP") {
				t.Errorf("--listen does not say it is TCP and UDP: %s", s)
			}
		}
	}
}
