package main

import (
	"fmt"
	"net/netip"
	"strings"
)

// Pairs of application subnets are written the same way everywhere:
// "A,B" or "A B" (two arguments), in `up --allow`, WEAVE_SWITCH_ALLOW, the
// config file, and `allow`/`deny`. A value may hold several pairs
// ("A,B C,D"); its subnets are taken two at a time.

// splitPairs reads the --allow values into pairs "A,B".
func splitPairs(vals []string) ([]string, error) {
	var out []string
	for _, v := range vals {
		f := splitList([]string{v})
		if len(f)%2 != 0 {
			return nil, fmt.Errorf("--allow %q: want pairs of subnets, A,B (or \"A B\")", v)
		}
		for i := 0; i < len(f); i += 2 {
			out = append(out, f[i]+","+f[i+1])
		}
	}
	return out, nil
}

// parsePairArgs reads the arguments of allow and deny: one pair, as
// A B or A,B.
func parsePairArgs(cmd string, args []string) (a, b netip.Prefix, err error) {
	f := splitList(args)
	if len(f) != 2 {
		return a, b, fmt.Errorf("usage: weave-switch %s SUBNET-A SUBNET-B, or SUBNET-A,SUBNET-B (e.g. %s 10.40.1.0/24 10.40.2.0/24); got %q", cmd, cmd, strings.Join(args, " "))
	}
	ps, err := parsePrefixes(cmd, f)
	if err != nil {
		return a, b, err
	}
	return ps[0], ps[1], nil
}
