package main

import (
	"bytes"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/daemon"
)

func version() string { return daemon.Version }

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run this host's router in the foreground until SIGINT/SIGTERM",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "name", Usage: "peer name aa:bb:cc:dd:ee:ff (default: derived from the host, kept in --data-dir)", EnvVars: []string{"WEAVE_SWITCH_NAME"}},
			&cli.StringFlag{Name: "nickname", Usage: "human name shown in status (default: host name)", EnvVars: []string{"WEAVE_SWITCH_NICKNAME"}},
			&cli.StringFlag{Name: "listen", Value: ":6783", Usage: "HOST:PORT of the UDP sleeve", EnvVars: []string{"WEAVE_SWITCH_LISTEN"}},
			&cli.StringSliceFlag{Name: "peer", Usage: "HOST[:PORT][,transport=T] of a peer (repeatable)", EnvVars: []string{"WEAVE_SWITCH_PEERS"}},
			&cli.StringFlag{Name: "transport", Value: "sleeve", Usage: "transport asked for on links: sleeve, wireguard or quic (falls back to sleeve, visibly, where a peer lacks it)", EnvVars: []string{"WEAVE_SWITCH_TRANSPORT"}},
			&cli.StringSliceFlag{Name: "offer", Usage: "further transports to offer peers: wireguard, quic (repeatable)", EnvVars: []string{"WEAVE_SWITCH_OFFER"}},
			&cli.StringFlag{Name: "wireguard-listen", Value: ":51820", Usage: "UDP HOST:PORT of the WireGuard transport", EnvVars: []string{"WEAVE_SWITCH_WIREGUARD_LISTEN"}},
			&cli.StringFlag{Name: "quic-listen", Value: ":6784", Usage: "UDP HOST:PORT of the QUIC transport", EnvVars: []string{"WEAVE_SWITCH_QUIC_LISTEN"}},
			&cli.StringFlag{Name: "bridge", Value: "weave", Usage: "name of the Linux bridge", EnvVars: []string{"WEAVE_SWITCH_BRIDGE"}},
			apiFlag,
			&cli.StringFlag{Name: "data-dir", Value: "/var/lib/weave-switch", Usage: "state kept across restarts", EnvVars: []string{"WEAVE_SWITCH_DATA_DIR"}},
			&cli.IntFlag{Name: "mtu", Usage: "overlay MTU (default: 1500 minus the transport's overhead)", EnvVars: []string{"WEAVE_SWITCH_MTU"}},
			&cli.StringFlag{Name: "password-file", Usage: "file with the mesh password: encrypts and authenticates the control plane (or set WEAVE_SWITCH_PASSWORD)", EnvVars: []string{"WEAVE_SWITCH_PASSWORD_FILE"}},
			&cli.BoolFlag{Name: "no-discovery", Usage: "connect only to --peer and 'connect' targets, not to peers learned from gossip", EnvVars: []string{"WEAVE_SWITCH_NO_DISCOVERY"}},
			&cli.StringFlag{Name: "metrics-addr", Usage: "also serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:6782); always on the API socket at /metrics", EnvVars: []string{"WEAVE_SWITCH_METRICS_ADDR"}},
			&cli.BoolFlag{Name: "no-offload", Usage: "open the TAP without TSO/checksum offloads (slower; for comparison)", EnvVars: []string{"WEAVE_SWITCH_NO_OFFLOAD"}},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"WEAVE_SWITCH_LOG_LEVEL"}},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("up takes no arguments, got "+strings.Join(c.Args().Slice(), " "), 2)
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return cli.Exit("--log-level: "+err.Error(), 2)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			password := []byte(os.Getenv("WEAVE_SWITCH_PASSWORD"))
			if f := c.String("password-file"); f != "" {
				b, err := os.ReadFile(f)
				if err != nil {
					return cli.Exit("--password-file: "+err.Error(), 2)
				}
				password = bytes.TrimRight(b, "\r\n")
				if len(password) == 0 {
					return cli.Exit("--password-file: "+f+" is empty", 2)
				}
			}
			cfg := daemon.Config{
				Password:        password,
				Transport:       c.String("transport"),
				Offer:           splitList(c.StringSlice("offer")),
				WireGuardListen: c.String("wireguard-listen"),
				QUICListen:      c.String("quic-listen"),
				NoDiscovery:     c.Bool("no-discovery"),
				Name:            c.String("name"),
				Nickname:        c.String("nickname"),
				Listen:          c.String("listen"),
				Peers:           c.StringSlice("peer"),
				Bridge:          c.String("bridge"),
				API:             c.String("api"),
				DataDir:         c.String("data-dir"),
				MTU:             c.Int("mtu"),
				NoOffload:       c.Bool("no-offload"),
				MetricsAddr:     c.String("metrics-addr"),
				Logger:          logger,
			}
			if err := cfg.Validate(); err != nil {
				return cli.Exit(strings.ReplaceAll(err.Error(), "\n", "; "), 2)
			}
			if err := daemon.Run(c.Context, cfg); err != nil {
				return cli.Exit(err.Error(), 1)
			}
			return nil
		},
	}
}

// splitList accepts both --offer a --offer b and --offer a,b.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
