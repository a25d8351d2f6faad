package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/weave-switch/weave-switch/api"
)

// printIPAM prints `status ipam`: the ring's state, each peer's ranges and
// free space, and this router's allocations.
func printIPAM(w io.Writer, s *api.IPAMStatus) {
	if s == nil {
		fmt.Fprintln(w, "IPAM: not running")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Range:\t%s (default subnet %s)\n", s.Range, s.DefaultSubnet)
	fmt.Fprintf(tw, "State:\t%s\n", s.State)
	if len(s.Seeds) > 0 {
		fmt.Fprintf(tw, "Seeds:\t%s\n", strings.Join(s.Seeds, ", "))
	}
	if len(s.Wants) > 0 {
		fmt.Fprintf(tw, "Waiting for space in:\t%s\n", strings.Join(s.Wants, ", "))
	}
	if s.Error != "" {
		fmt.Fprintf(tw, "Error:\t%s\n", s.Error)
	}
	tw.Flush()
	if len(s.Peers) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PEER\tNICKNAME\tADDRESSES\tFREE\tSHARE\tSTATE\tRANGES")
		var total uint64
		for _, p := range s.Peers {
			total += p.Addresses
		}
		for _, p := range s.Peers {
			state := "reachable"
			switch {
			case p.Removed:
				state = "removed"
			case p.Self:
				state = "self"
			case !p.Reachable:
				state = "unreachable!"
			}
			if len(p.Reclaiming) > 0 {
				state += " (reclaiming " + strings.Join(p.Reclaiming, ",") + ")"
			}
			if len(p.Wants) > 0 {
				state += " (wants " + strings.Join(p.Wants, ",") + ")"
			}
			share := 0.0
			if total > 0 {
				share = 100 * float64(p.Addresses) / float64(total)
			}
			ranges := strings.Join(p.Ranges, " ")
			if len(p.Ranges) > 4 {
				ranges = strings.Join(p.Ranges[:4], " ") + fmt.Sprintf(" … (%d ranges)", len(p.Ranges))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f%%\t%s\t%s\n", p.Name, dash(p.Nickname), p.Addresses, p.Free, share, state, dash(ranges))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tADDRESSES")
	for _, a := range s.Allocations {
		var as []string
		for _, ad := range a.Addrs {
			as = append(as, ad.String())
		}
		fmt.Fprintf(tw, "%s\t%s\n", a.Key, strings.Join(as, " "))
	}
	tw.Flush()
}

// ipamSummary is the one line `status` shows about the allocator.
func ipamSummary(s *api.IPAMStatus) string {
	var owned, free uint64
	allocated := 0
	for _, p := range s.Peers {
		if p.Self {
			owned, free = p.Addresses, p.Free
		}
	}
	for _, a := range s.Allocations {
		allocated += len(a.Addrs)
	}
	return fmt.Sprintf("%s, range %s, this router owns %d addresses (%d free), %d allocated to %d containers",
		s.State, s.Range, owned, free, allocated, len(s.Allocations))
}
