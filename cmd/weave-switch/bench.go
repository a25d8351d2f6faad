package main

import (
	"os"
	"os/exec"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:            "bench",
		Usage:           "measure the overlay against raw veth and kernel vxlan in network namespaces (runs bench/run.sh)",
		SkipFlagParsing: true,
		Action: func(c *cli.Context) error {
			script := os.Getenv("WEAVE_SWITCH_BENCH_SCRIPT")
			if script == "" {
				self, err := os.Executable()
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				script = filepath.Join(filepath.Dir(self), "..", "bench", "run.sh")
			}
			if _, err := os.Stat(script); err != nil {
				return cli.Exit("bench: cannot find bench/run.sh next to the binary (set WEAVE_SWITCH_BENCH_SCRIPT)", 1)
			}
			cmd := exec.CommandContext(c.Context, "bash", append([]string{script}, c.Args().Slice()...)...)
			cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stdout, os.Stderr, os.Stdin
			if err := cmd.Run(); err != nil {
				return cli.Exit("bench: "+err.Error(), 1)
			}
			return nil
		},
	}
}
