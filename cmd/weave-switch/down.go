package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

func downCommand() *cli.Command {
	return &cli.Command{
		Name:  "down",
		Usage: "stop the local router gracefully (with --leave, retire this host from the mesh)",
		Description: "Asks the router through its API to stop; it detaches the containers it attached and removes\n" +
			"what it made, and down waits until its process has exited. With --leave it first hands this\n" +
			"host's address ranges to a live peer and leaves the allocation ring, so that retiring the host\n" +
			"needs no 'rmpeer' on the others (its entry in their topology is dropped a minute after it left).",
		Flags: []cli.Flag{
			apiFlag,
			&cli.BoolFlag{Name: "leave", Usage: "hand this host's address ranges to a live peer and leave the mesh for good"},
			&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "how long to wait for the router to exit"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("down takes no arguments", 2)
			}
			resp, err := stopRouter(c.Context, api.NewClient(c.String("api")), c.Bool("leave"), c.Duration("timeout"), c.App.Writer)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "router stopped (pid %d)\n", resp.PID)
			return nil
		},
	}
}

// stopRouter asks the router to stop (leaving first with leave) and
// waits until its process has exited.
func stopRouter(ctx context.Context, cl *api.Client, leave bool, timeout time.Duration, w interface{ Write([]byte) (int, error) }) (api.DownResponse, error) {
	resp, err := cl.Down(ctx, leave)
	if err != nil {
		return resp, err
	}
	if leave {
		if resp.Heir != "" {
			fmt.Fprintf(w, "handed this host's address ranges (%d addresses) to %s and left the allocation ring\n", resp.Handed, resp.Heir)
		} else {
			fmt.Fprintln(w, "no other member of the allocation ring: nothing to hand over")
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cl.WaitGone(ctx); err != nil {
		return resp, err
	}
	return resp, waitExit(ctx, resp.PID)
}

// waitExit waits until process pid has exited (or is a zombie). A pid
// not visible here (another PID namespace) counts as exited once the
// API is gone.
func waitExit(ctx context.Context, pid int) error {
	if pid <= 0 {
		return nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		// The state follows the command name in parentheses.
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the router (pid %d) has not exited yet: %w", pid, ctx.Err())
		case <-t.C:
		}
	}
}
