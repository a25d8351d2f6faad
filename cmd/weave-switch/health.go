package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

// health is what `status` checks: problems make it exit with
// exitUnhealthy, notes are shown only.
type health struct {
	Problems []string `json:"problems"`
	Notes    []string `json:"notes"`
}

// checkHealth judges a router's status: every link down, unreachable
// peers and address ranges held by unreachable peers are problems;
// links fallen back to another transport or to the userspace path, an
// allocator still waiting, and the isolation rules applied are notes.
func checkHealth(s api.Status) health {
	var h health
	established := 0
	var fallen []string
	for _, c := range s.Connections {
		if c.State == "established" {
			established++
		}
		if c.Fallback != "" {
			fallen = append(fallen, dash(c.Nickname+" "+c.Peer)+": "+c.Fallback)
		}
	}
	if len(s.Connections) > 0 && established == 0 {
		h.Problems = append(h.Problems, fmt.Sprintf("no link is up (%d connections, none established)", len(s.Connections)))
	}
	var unreachable []string
	for _, p := range s.Peers {
		if p.Name != s.Name && !p.Reachable {
			unreachable = append(unreachable, peerLabel(p.Name, p.Nickname))
		}
	}
	if len(unreachable) > 0 {
		h.Problems = append(h.Problems, "peers unreachable: "+strings.Join(unreachable, ", "))
	}
	if s.IPAM != nil {
		var owners []string
		for _, p := range s.IPAM.Peers {
			if !p.Self && !p.Removed && !p.Reachable && p.Addresses > 0 {
				owners = append(owners, peerLabel(p.Name, p.Nickname))
			}
		}
		if len(owners) > 0 {
			h.Problems = append(h.Problems, "address ranges held by unreachable peers: "+strings.Join(owners, ", ")+
				" (if gone for good: weave-switch rmpeer NAME)")
		}
		if s.IPAM.State != "ready" {
			h.Notes = append(h.Notes, "address allocation: "+s.IPAM.State)
		}
	}
	if len(fallen) > 0 {
		h.Notes = append(h.Notes, "links fallen back: "+strings.Join(fallen, "; "))
	}
	if s.Host != nil {
		if s.Host.Isolation {
			h.Notes = append(h.Notes, fmt.Sprintf("isolation on: %d allowed pairs applied", len(s.Host.Allowed)))
		} else {
			h.Notes = append(h.Notes, "isolation off (--no-isolation)")
		}
	}
	for _, l := range s.Fastpath.Links {
		if l.State != "up" && l.Reason != "" {
			h.Notes = append(h.Notes, "fast path to "+l.Peer+" not in use: "+l.Reason)
		}
	}
	return h
}

func peerLabel(name, nick string) string {
	if nick == "" {
		return name
	}
	return name + "(" + nick + ")"
}

// printHealth writes the health block that begins the status summary.
func printHealth(w io.Writer, h health) {
	if len(h.Problems) == 0 {
		fmt.Fprintln(w, "Health:\tok")
	} else {
		fmt.Fprintf(w, "Health:\tUNHEALTHY\n")
	}
	for _, p := range h.Problems {
		fmt.Fprintf(w, "\t! %s\n", p)
	}
	for _, n := range h.Notes {
		fmt.Fprintf(w, "\t- %s\n", n)
	}
}

// healthKey is where the status command leaves the health it found.
const healthKey = "health"

// noteHealth records s's health for withHealthExit.
func noteHealth(c *cli.Context, s api.Status) {
	if c.App.Metadata == nil {
		c.App.Metadata = map[string]any{}
	}
	c.App.Metadata[healthKey] = checkHealth(s)
}

// exitUnhealthy is status's exit code when the router answers but is
// unhealthy (1 is for errors, 2 for usage).
const exitUnhealthy = 3

// withHealthExit makes cmd exit with exitUnhealthy when the whole status
// it showed (not a section of it) was unhealthy; the output stays as it
// is, JSON too.
func withHealthExit(cmd *cli.Command) *cli.Command {
	inner := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		if err := inner(c); err != nil {
			return err
		}
		if h, ok := c.App.Metadata[healthKey].(health); ok && len(h.Problems) > 0 && c.Args().First() == "" {
			return cli.Exit("unhealthy: "+strings.Join(h.Problems, "; "), exitUnhealthy)
		}
		return nil
	}
	return cmd
}
