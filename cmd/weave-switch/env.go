package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker/proxy"
)

// origDockerHost keeps the DOCKER_HOST that `env` replaced, for
// `env --restore`.
const origDockerHost = "ORIG_DOCKER_HOST"

func envCommand() *cli.Command {
	return &cli.Command{
		Name:  "env",
		Usage: "print the shell commands that point the docker CLI at the router's Docker API proxy",
		Description: "eval $(weave-switch env) sets DOCKER_HOST to the proxy's socket (keeping the old value in\n" +
			"ORIG_DOCKER_HOST); eval $(weave-switch env --restore) puts it back. The socket is the one the\n" +
			"running router reports, else --proxy-socket's default.",
		Flags: []cli.Flag{apiFlag,
			&cli.StringFlag{Name: "proxy-socket", Usage: "the proxy's socket", DefaultText: "the running router's, else " + proxy.DefaultSocket,
				EnvVars: []string{"WEAVE_SWITCH_PROXY_SOCKET"}},
			&cli.BoolFlag{Name: "restore", Usage: "print the commands that restore DOCKER_HOST as it was before"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return cli.Exit("usage: weave-switch env [--restore] [--proxy-socket PATH]", 2)
			}
			if c.Bool("restore") {
				fmt.Fprintln(c.App.Writer, restoreLine(os.Getenv(origDockerHost)))
				return nil
			}
			sock := c.String("proxy-socket")
			if sock == "" {
				sock = routerProxySocket(c.Context, c.String("api"))
			}
			fmt.Fprintln(c.App.Writer, exportLine("unix://"+sock, os.Getenv("DOCKER_HOST")))
			return nil
		},
	}
}

// routerProxySocket is the proxy socket the router at apiSocket reports,
// or proxy.DefaultSocket if it reports none or does not answer.
func routerProxySocket(ctx context.Context, apiSocket string) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if st, err := api.NewClient(apiSocket).Status(ctx); err == nil && st.Docker != nil && st.Docker.ProxySocket != "" {
		return st.Docker.ProxySocket
	}
	return proxy.DefaultSocket
}

// exportLine points DOCKER_HOST at host and keeps cur, the value it
// replaces, in ORIG_DOCKER_HOST (unless cur is host already, so that a
// second eval keeps the first one's original).
func exportLine(host, cur string) string {
	if cur == host {
		return "export DOCKER_HOST=" + shellQuote(host)
	}
	return "export DOCKER_HOST=" + shellQuote(host) + " " + origDockerHost + "=" + shellQuote(cur)
}

// restoreLine puts DOCKER_HOST back to orig (unset if empty) and unsets
// ORIG_DOCKER_HOST.
func restoreLine(orig string) string {
	if orig == "" {
		return "unset DOCKER_HOST " + origDockerHost
	}
	return "export DOCKER_HOST=" + shellQuote(orig) + "; unset " + origDockerHost
}

// shellQuote quotes s for a POSIX shell, only when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:._-+@,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
