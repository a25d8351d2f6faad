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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app := newApp()
	if err := app.RunContext(ctx, permuteArgs(app, os.Args)); err != nil {
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

var apiFlag = &cli.StringFlag{
	Name:    "api",
	Usage:   "path of the router's control socket",
	Value:   "/run/weave-switch/weave-switch.sock",
	EnvVars: []string{"WEAVE_SWITCH_API"},
}

func usageError(c *cli.Context, err error, _ bool) error {
	name := c.App.Name
	if c.Command != nil && c.Command.Name != "" {
		name += " " + c.Command.Name
	}
	return cli.Exit(fmt.Sprintf("%v (see '%s --help')", err, name), 2)
}

func newApp() *cli.App {
	app := &cli.App{
		Name:                 "weave-switch",
		Usage:                "one virtual Ethernet switch for the containers of many hosts",
		Version:              version(),
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		// --peer HOST,transport=T carries commas: repeat flags instead.
		DisableSliceFlagSeparator: true,
		Commands: []*cli.Command{
			upCommand(),
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
			statusCommand(),
			benchCommand(),
			envCommand(),
		},
		OnUsageError: usageError,
		// main prints errors and picks the exit code, once, with a prefix.
		ExitErrHandler: func(*cli.Context, error) {},
		CommandNotFound: func(c *cli.Context, name string) {
			fmt.Fprintf(os.Stderr, "weave-switch: unknown command %q (see 'weave-switch --help')\n", name)
			os.Exit(2)
		},
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = usageError
	}
	return app
}

// permuteArgs moves a subcommand's flags in front of its positional
// arguments, so that `status peers --json` works as well as
// `status --json peers` (urfave/cli v2 stops parsing flags at the first
// positional argument). Everything after "--" stays as it is.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	var cmd *cli.Command
	i := 1
	for ; i < len(args); i++ {
		if !strings.HasPrefix(args[i], "-") {
			cmd = app.Command(args[i])
			break
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
	out := append([]string{}, args[:i+1]...)
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
