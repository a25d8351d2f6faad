// Command weave-switch runs and controls a weave-switch router. It is a
// thin layer over packages daemon and api.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/internal/sysmon"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	args := permuteArgs(app, os.Args)
	if command(args) == "up" {
		// A router keeps the runtime's sysmon awake: see package sysmon.
		// This returns only if there is nothing to do or exec failed.
		if err := sysmon.Exec(); err != nil {
			fmt.Fprintln(os.Stderr, "weave-switch: re-executing with GODEBUG="+sysmon.Setting+" failed, going on without:", err)
		}
	}
	if err := app.RunContext(ctx, args); err != nil {
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "weave-switch:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "weave-switch:", err)
		os.Exit(1)
	}
}

// command returns the command args name (its first argument that is not
// a flag), or "".
func command(args []string) string {
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			return a
		}
	}
	return ""
}

var apiFlag = &cli.StringFlag{
	Name:    "api",
	Usage:   "path of the router's control socket",
	Value:   "/run/weave-switch/weave-switch.sock",
	EnvVars: []string{"WEAVE_SWITCH_API"},
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := c.App.Name
	flags := c.App.Flags
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
		flags = c.Command.Flags
	}
	msg := err.Error()
	if bad, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		var names []string
		for _, f := range flags {
			names = append(names, f.Names()...)
		}
		if s := closest(strings.TrimLeft(bad, "-"), names); s != "" {
			if len(s) > 1 {
				s = "--" + s
			} else {
				s = "-" + s
			}
			msg += "; did you mean " + s + "?"
		}
	}
	return cli.Exit(fmt.Sprintf("%s (see '%s --help')", msg, name), 2)
}

// commandNotFound says so, with the closest command's name.
func commandNotFound(c *cli.Context, name string) {
	msg := fmt.Sprintf("weave-switch: unknown command %q", name)
	var names []string
	for _, cmd := range c.App.VisibleCommands() {
		names = append(names, cmd.Names()...)
	}
	if s := closest(name, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	fmt.Fprintln(os.Stderr, msg+" (see 'weave-switch help')")
	os.Exit(2)
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "weave-switch",
		Usage:                "one virtual Ethernet switch for the containers of many hosts",
		Version:              version(),
		EnableBashCompletion: true,
		Suggest:              true,
		// The global --api: permuteArgs hands it to the command.
		Flags: []cli.Flag{&cli.StringFlag{Name: apiFlag.Name, Usage: apiFlag.Usage, Value: apiFlag.Value, EnvVars: apiFlag.EnvVars}},
		// --peer HOST,transport=T carries commas: repeat flags instead.
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			upCommand(),
			downCommand(),
			resetCommand(),
			joinTokenCommand(),
			attachCommand(),
			detachCommand(),
			connectCommand(),
			forgetCommand(),
			rmpeerCommand(),
			exposeCommand(),
			hideCommand(),
			allowCommand(),
			denyCommand(),
			publishCommand(),
			unpublishCommand(),
			importCommand(),
			unimportCommand(),
			withHealthExit(statusCommand()),
			reportCommand(),
			dnsAddCommand(),
			dnsRemoveCommand(),
			benchCommand(),
			envCommand(),
			kubeInstallCommand(),
			completionCommand(),
			manCommand(),
		},
		OnUsageError: usageError,
		// main prints errors and picks the exit code, once, with a prefix.
		ExitErrHandler:  func(*cli.Context, error) {},
		CommandNotFound: commandNotFound,
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	return app
}

// closest is the name nearest to typed by edit distance, if it is near
// enough to be a typo (at most a third of its letters, and 2, off).
func closest(typed string, names []string) string {
	best, bestD := "", 0
	for _, n := range names {
		d := editDistance(typed, n)
		if best == "" || d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" || bestD > 2 || bestD*3 > len(best) {
		return ""
	}
	return best
}

// editDistance is the Damerau-Levenshtein distance (with adjacent
// transpositions) between a and b.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// permuteArgs moves a subcommand's flags in front of its positional
// arguments, so that `status peers --json` works as well as
// `status --json peers` (urfave/cli v2 stops parsing flags at the first
// positional argument), and moves the global --api behind the command
// name when the command has an --api of its own, so that
// `weave-switch --api X status` reaches the command. Everything after
// "--" stays as it is.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	var head, global []string // flags before the command; the global --api among them
	i := 1
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			if a != "--" {
				cmd = app.Command(a)
			}
			break
		}
		switch name := strings.TrimLeft(a, "-"); {
		case name == apiFlag.Name && i+1 < len(args):
			global = append(global, a, args[i+1])
			i++
		case strings.HasPrefix(name, apiFlag.Name+"="):
			global = append(global, a)
		default:
			head = append(head, a)
		}
	}
	if cmd == nil || cmd.SkipFlagParsing {
		return args
	}
	takesValue := map[string]bool{}
	for _, f := range cmd.Flags {
		takes := true
		if tv, ok := f.(interface{ TakesValue() bool }); ok {
			takes = tv.TakesValue()
		}
		for _, n := range f.Names() {
			takesValue[n] = takes
		}
	}
	out := append([]string{args[0]}, head...)
	if _, ok := takesValue[apiFlag.Name]; ok {
		out = append(out, args[i])
		out = append(out, global...)
	} else {
		out = append(append(out, global...), args[i])
	}
	var flags, pos []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			pos = append(pos, rest[j:]...)
			j = len(rest)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && takesValue[name] && j+1 < len(rest) {
				j++
				flags = append(flags, rest[j])
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(append(out, flags...), pos...)
}
