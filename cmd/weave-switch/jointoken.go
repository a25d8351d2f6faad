package main

import (
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/internal/meshsecret"
)

func joinTokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "join-token",
		Usage: "print the one string another host joins this mesh with ('weave-switch up --join TOKEN')",
		Description: "Asks the running router for its mesh's secret and the addresses it is reached at.\n" +
			"With no router running, reads the secret from --data-dir and needs --addr.",
		Flags: []cli.Flag{
			apiFlag,
			&cli.StringSliceFlag{Name: "addr", Usage: "HOST[:PORT] other hosts dial, instead of the router's own addresses (repeatable)"},
			&cli.StringFlag{Name: "data-dir", Value: "/var/lib/weave-switch", Usage: "where the secret is kept, read when no router is running", EnvVars: []string{"WEAVE_SWITCH_DATA_DIR"}},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("join-token takes no arguments", 2)
			}
			addrs, err := tokenAddrs(splitList(c.StringSlice("addr")))
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			tok, err := api.NewClient(c.String("api")).JoinToken(c.Context)
			switch {
			case errors.Is(err, api.ErrNoRouter):
				tok, err = tokenFromDataDir(c.String("data-dir"), addrs)
			case err == nil && len(addrs) > 0:
				tok, err = withAddrs(tok, addrs)
			}
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			fmt.Fprintln(c.App.Writer, tok)
			return nil
		},
	}
}

// tokenAddrs turns --addr values into HOST:PORT, the port defaulting to
// 6783.
func tokenAddrs(in []string) ([]string, error) {
	var out []string
	for _, a := range in {
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, "6783")
		}
		out = append(out, a)
	}
	t := meshsecret.Token{Secret: []byte("x"), Addrs: out}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("--addr: %w", err)
	}
	return out, nil
}

// withAddrs replaces the addresses of tok.
func withAddrs(tok string, addrs []string) (string, error) {
	t, err := meshsecret.ParseToken(tok)
	if err != nil {
		return "", err
	}
	t.Addrs = addrs
	return t.String(), nil
}

// tokenFromDataDir builds the token of the secret kept in dir.
func tokenFromDataDir(dir string, addrs []string) (string, error) {
	s, err := meshsecret.Load(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("no router is running and %s holds no secret (start one with 'weave-switch up')", dir)
	case err != nil:
		return "", err
	case len(addrs) == 0:
		return "", errors.New("no router is running: give --addr HOST[:PORT] for the address other hosts dial")
	}
	t := meshsecret.Token{Secret: s, Addrs: addrs}
	if err := t.Validate(); err != nil {
		return "", err
	}
	return t.String(), nil
}
