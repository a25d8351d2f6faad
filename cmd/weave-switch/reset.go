package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/reset"
)

func resetCommand() *cli.Command {
	return &cli.Command{
		Name:  "reset",
		Usage: "retire this host: leave the mesh, stop the router and remove everything it made",
		Description: "If a router runs, reset asks it to hand this host's address ranges to a live peer, leave the\n" +
			"mesh and stop (as 'down --leave'; with no live peer it stops anyway and says so). Then it removes\n" +
			"whatever a router on --bridge left, also after a crash or kill -9: the containers' veths, the\n" +
			"fast path's devices, the TAP and the bridge, the nftables tables, the IPv4 forwarding it turned\n" +
			"on, its sockets, and with --data the data directory (identity, secret, address database).\n" +
			"Running it again finds nothing to do.",
		Flags: []cli.Flag{
			apiFlag,
			&cli.StringFlag{Name: "bridge", Value: "weave", Usage: "the router's bridge (as given to up)", EnvVars: []string{"WEAVE_SWITCH_BRIDGE"}},
			&cli.StringFlag{Name: "data-dir", Value: "/var/lib/weave-switch", Usage: "the router's data directory (as given to up)", EnvVars: []string{"WEAVE_SWITCH_DATA_DIR"}},
			&cli.StringFlag{Name: "proxy-socket", Value: config.DefaultProxySocket, Usage: "the Docker API proxy's socket (as given to up)", EnvVars: []string{"WEAVE_SWITCH_PROXY_SOCKET"}},
			&cli.StringSliceFlag{Name: "plugin-socket", Value: cli.NewStringSlice(config.DefaultPluginSockets...), Usage: "the Docker plugin's sockets (as given to up)", EnvVars: []string{"WEAVE_SWITCH_PLUGIN_SOCKETS"}},
			&cli.BoolFlag{Name: "data", Usage: "remove the data directory too: the next up starts as a new peer with a new secret"},
			&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "how long to wait for the router to exit"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("reset takes no arguments", 2)
			}
			w := c.App.Writer
			cl := api.NewClient(c.String("api"))
			if _, err := cl.Status(c.Context); err == nil {
				resp, err := stopRouter(c.Context, cl, true, c.Duration("timeout"), w)
				if err != nil && resp.PID == 0 {
					fmt.Fprintf(w, "could not leave the mesh (%v): stopping without leaving; 'rmpeer' this host from a member to reclaim its addresses\n", err)
					resp, err = stopRouter(c.Context, cl, false, c.Duration("timeout"), w)
				}
				if err != nil {
					return cli.Exit("reset: "+err.Error(), 1)
				}
				fmt.Fprintf(w, "router stopped (pid %d)\n", resp.PID)
			} else if !errors.Is(err, api.ErrNoRouter) {
				return cli.Exit("reset: "+err.Error(), 1)
			} else {
				fmt.Fprintln(w, "no router running: cleaning up what one left")
			}
			sockets := append([]string{c.String("api"), c.String("proxy-socket")}, splitList(c.StringSlice("plugin-socket"))...)
			removed, err := reset.Reset(c.Context, reset.Config{Bridge: c.String("bridge"), DataDir: c.String("data-dir"),
				Data: c.Bool("data"), Sockets: sockets})
			for _, r := range removed {
				fmt.Fprintln(w, "removed", r)
			}
			if len(removed) == 0 && err == nil {
				fmt.Fprintln(w, "nothing left to remove")
			}
			if err != nil {
				return cli.Exit("reset: "+oneLine(err), 1)
			}
			return nil
		},
	}
}
