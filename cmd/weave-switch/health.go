package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

// printHealth writes the health block that begins the status summary
// (api.CheckHealth judges it, as it does for the status page).
func printHealth(w io.Writer, h api.Health) {
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
	c.App.Metadata[healthKey] = api.CheckHealth(s)
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
		if h, ok := c.App.Metadata[healthKey].(api.Health); ok && len(h.Problems) > 0 && c.Args().First() == "" {
			return cli.Exit("unhealthy: "+strings.Join(h.Problems, "; "), exitUnhealthy)
		}
		return nil
	}
	return cmd
}
