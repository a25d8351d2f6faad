package isolation

import (
	"fmt"
	"strings"
)

// Ruleset is everything the router puts into nftables for one bridge. It
// is a pure value; Script renders it and a Runner applies it.
type Ruleset struct {
	// Bridge is the Linux bridge the containers are attached to.
	Bridge string
	// Isolate turns on the bridge-family filter table (Policy). Without
	// it, containers of every subnet share one L2 segment unfiltered, as
	// in Weave Net.
	Isolate bool
	Policy  Policy
	NAT     NAT
	// Unknown are ports found on the bridge that are neither the
	// router's own nor in Policy: a veth left by a run whose state was
	// lost, or plugged in by someone else. With Isolate, their frames
	// are dropped where they enter the bridge (fail closed) until they
	// are in Policy. Other ports the Policy does not list pass
	// unfiltered.
	Unknown []string
}

// Validate checks the bridge name, the policy and each service.
func (r Ruleset) Validate() error {
	if err := checkName(r.Bridge); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	for _, n := range r.Unknown {
		if err := checkName(n); err != nil {
			return fmt.Errorf("unknown port: %w", err)
		}
	}
	if err := r.Policy.Validate(); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, s := range r.NAT.Forwards {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		if seen[s.Key()] {
			return fmt.Errorf("%s: listed twice", s)
		}
		seen[s.Key()] = true
	}
	return nil
}

// Script renders r as one nft script that replaces the router's tables
// for r.Bridge in a single transaction: `nft -f` applies all of it or
// none, so the data path never sees a half-built policy. Each table is
// first declared (a no-op if it exists) and deleted, so the script works
// whether or not an earlier run left the tables behind.
func (r Ruleset) Script() string {
	var b strings.Builder
	t := TableName(r.Bridge)
	fmt.Fprintf(&b, "table bridge %s {}\ndelete table bridge %s\n", t, t)
	fmt.Fprintf(&b, "table ip %s {}\ndelete table ip %s\n", t, t)
	if r.Isolate {
		writeFilterTable(&b, t, r.Policy, r.NAT.masquerades(), r.Unknown)
	}
	if !r.NAT.empty() {
		writeIPTable(&b, t, r)
	}
	return b.String()
}

// DeleteScript removes the router's tables for bridge (both may be
// absent).
func DeleteScript(bridge string) string {
	t := TableName(bridge)
	return fmt.Sprintf("table bridge %s {}\ndelete table bridge %s\ntable ip %s {}\ndelete table ip %s\n", t, t, t, t)
}

// writeIPTable writes the ip-family table: NAT (see writeNATChains).
func writeIPTable(b *strings.Builder, t string, r Ruleset) {
	fmt.Fprintf(b, "table ip %s {\n", t)
	writeNATChains(b, r.Bridge, r.NAT)
	b.WriteString("}\n")
}
