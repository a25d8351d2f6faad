package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/daemon"
)

func version() string { return daemon.Version }

// upFlags are the flags of `up`; each can also be set in the --config file.
var upFlags = []cli.Flag{
	altsrc.NewStringFlag(&cli.StringFlag{Name: "name", Usage: "peer name aa:bb:cc:dd:ee:ff (default: derived from the host, kept in --data-dir)", EnvVars: []string{"WEAVE_SWITCH_NAME"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "nickname", Usage: "human name shown in status (default: host name)", EnvVars: []string{"WEAVE_SWITCH_NICKNAME"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: ":6783", Usage: "HOST:PORT of the UDP sleeve", EnvVars: []string{"WEAVE_SWITCH_LISTEN"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "peer", Usage: "HOST[:PORT][,transport=T] of a peer (repeatable)", EnvVars: []string{"WEAVE_SWITCH_PEERS"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "transport", Value: "sleeve", Usage: "transport asked for on links: sleeve, wireguard or quic (falls back to sleeve, visibly, where a peer lacks it)", EnvVars: []string{"WEAVE_SWITCH_TRANSPORT"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "offer", Usage: "further transports to offer peers: wireguard, quic (repeatable)", EnvVars: []string{"WEAVE_SWITCH_OFFER"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "wireguard-listen", Value: ":51820", Usage: "UDP HOST:PORT of the WireGuard transport", EnvVars: []string{"WEAVE_SWITCH_WIREGUARD_LISTEN"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "quic-listen", Value: ":6784", Usage: "UDP HOST:PORT of the QUIC transport", EnvVars: []string{"WEAVE_SWITCH_QUIC_LISTEN"}}),
	altsrc.NewDurationFlag(&cli.DurationFlag{Name: "keepalive", Value: config.DefaultKeepalive, Usage: "longest a WireGuard or QUIC link stays silent, holding NAT mappings (data-path heartbeats go every second on every link besides)", EnvVars: []string{"WEAVE_SWITCH_KEEPALIVE"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "relay", Usage: "offer this router as a relay: peers with no link between them (both behind NAT) are routed through it in preference", EnvVars: []string{"WEAVE_SWITCH_RELAY"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-punch", Usage: "do not punch holes through NAT to peers this router cannot dial (they stay relayed)", EnvVars: []string{"WEAVE_SWITCH_NO_PUNCH"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "bridge", Value: "weave", Usage: "name of the Linux bridge", EnvVars: []string{"WEAVE_SWITCH_BRIDGE"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: apiFlag.Name, Usage: apiFlag.Usage, Value: apiFlag.Value, EnvVars: apiFlag.EnvVars}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "data-dir", Value: "/var/lib/weave-switch", Usage: "state kept across restarts", EnvVars: []string{"WEAVE_SWITCH_DATA_DIR"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "mtu", Usage: "overlay MTU (default: 1500 minus the transport's overhead)", EnvVars: []string{"WEAVE_SWITCH_MTU"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "join", Usage: "join token (from 'weave-switch join-token' on a member): the mesh's secret and addresses to dial", EnvVars: []string{"WEAVE_SWITCH_JOIN"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "password-file", Usage: "file with the mesh's secret, instead of the one kept in --data-dir (or set WEAVE_SWITCH_PASSWORD)", EnvVars: []string{"WEAVE_SWITCH_PASSWORD_FILE"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "insecure", Usage: "run the mesh without a secret: nothing is authenticated or encrypted, anyone who reaches the ports can join", EnvVars: []string{"WEAVE_SWITCH_INSECURE"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-discovery", Usage: "connect only to --peer and 'connect' targets, not to peers learned from gossip", EnvVars: []string{"WEAVE_SWITCH_NO_DISCOVERY"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "metrics-addr", Usage: "also serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:6782); always on the API socket at /metrics", EnvVars: []string{"WEAVE_SWITCH_METRICS_ADDR"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "rx-workers", Usage: "goroutines writing received frames into the TAP, chosen per flow (default: none below 4 CPUs, else half the CPUs, at most 4; 1: none)", EnvVars: []string{"WEAVE_SWITCH_RX_WORKERS"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "tap-queues", Usage: "TAP queues, each read on its own goroutine (default: one per CPU, at most 4)", EnvVars: []string{"WEAVE_SWITCH_TAP_QUEUES"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-offload", Usage: "open the TAP without TSO/checksum offloads (slower; for comparison)", EnvVars: []string{"WEAVE_SWITCH_NO_OFFLOAD"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "datapath", Value: "auto", Usage: "kernel fast path: auto (ovs if the kernel has the OVS datapath, else vxlan, else userspace), userspace, vxlan or ovs", EnvVars: []string{"WEAVE_SWITCH_DATAPATH"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "fastpath-port", Value: 6785, Usage: "UDP port of the kernel fast path (vxlan), the same on every host", EnvVars: []string{"WEAVE_SWITCH_FASTPATH_PORT"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "fastpath-unencrypted", Usage: "with a password, let --datapath vxlan|ovs carry the links unencrypted in the kernel (no kernel backend encrypts)", EnvVars: []string{"WEAVE_SWITCH_FASTPATH_UNENCRYPTED"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "ipalloc-range", Value: "10.32.0.0/12", Usage: "range container addresses are allocated from (the lower half is the default subnet, app:NAME subnets are /24s of the upper half)", EnvVars: []string{"WEAVE_SWITCH_IPALLOC_RANGE"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "ipalloc-seed", Usage: "peer names the allocation ring is created with; give every router the same list (default: a router without --peer seeds alone, one with --peer waits for the ring)", EnvVars: []string{"WEAVE_SWITCH_IPALLOC_SEED"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-isolation", Usage: "do not filter container ports: every application subnet shares one unfiltered L2 segment, as in Weave Net", EnvVars: []string{"WEAVE_SWITCH_NO_ISOLATION"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "allow", Usage: "A,B: let application subnets A and B talk (repeatable; 'allow A B' at run time)", EnvVars: []string{"WEAVE_SWITCH_ALLOW"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "docker-host", Usage: "Docker daemon to serve as network plugin and API proxy (default: $DOCKER_HOST, else unix:///var/run/docker.sock)", EnvVars: []string{"WEAVE_SWITCH_DOCKER_HOST"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-docker", Usage: "no Docker integration: no network plugin, API proxy or events watcher", EnvVars: []string{"WEAVE_SWITCH_NO_DOCKER"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "proxy-socket", Value: config.DefaultProxySocket, Usage: "unix socket of the Docker API proxy ('eval $(weave-switch env)' points docker at it)", EnvVars: []string{"WEAVE_SWITCH_PROXY_SOCKET"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "plugin-socket", Usage: "unix sockets of the Docker network and IPAM plugin (default: " + strings.Join(config.DefaultPluginSockets, " and ") + ")", EnvVars: []string{"WEAVE_SWITCH_PLUGIN_SOCKETS"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"WEAVE_SWITCH_LOG_LEVEL"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json (the log goes to stderr)", EnvVars: []string{"WEAVE_SWITCH_LOG_FORMAT"}}),
}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run this host's router in the foreground until SIGINT/SIGTERM",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "YAML file setting any of these flags (keys are the flag names; flags on the command line win)", EnvVars: []string{"WEAVE_SWITCH_CONFIG"}},
		}, upFlags...),
		Before: func(c *cli.Context) error {
			if err := altsrc.InitInputSourceWithContext(upFlags, altsrc.NewYamlSourceFromFlagFunc("config"))(c); err != nil {
				return cli.Exit("--config: "+err.Error(), 2)
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("up takes no arguments, got "+strings.Join(c.Args().Slice(), " "), 2)
			}
			logger, err := newLogger(os.Stderr, c.String("log-level"), c.String("log-format"))
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
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
			cfg := config.Config{
				Password:        password,
				Join:            c.String("join"),
				Insecure:        c.Bool("insecure"),
				Transport:       c.String("transport"),
				Offer:           splitList(c.StringSlice("offer")),
				WireGuardListen: c.String("wireguard-listen"),
				QUICListen:      c.String("quic-listen"),
				NoDiscovery:     c.Bool("no-discovery"),
				Keepalive:       c.Duration("keepalive"),
				Relay:           c.Bool("relay"),
				NoPunch:         c.Bool("no-punch"),
				Name:            c.String("name"),
				Nickname:        c.String("nickname"),
				Listen:          c.String("listen"),
				Peers:           c.StringSlice("peer"),
				Bridge:          c.String("bridge"),
				API:             c.String("api"),
				DataDir:         c.String("data-dir"),
				MTU:             c.Int("mtu"),
				NoOffload:       c.Bool("no-offload"),
				Queues:          c.Int("tap-queues"),
				RxWorkers:       c.Int("rx-workers"),
				MetricsAddr:     c.String("metrics-addr"),
				IPAllocRange:    c.String("ipalloc-range"),
				IPAllocSeeds:    splitList(c.StringSlice("ipalloc-seed")),
				NoIsolation:     c.Bool("no-isolation"),
				Allow:           c.StringSlice("allow"),
				Datapath:        c.String("datapath"),
				FastPathPort:    c.Int("fastpath-port"),
				DockerHost:      c.String("docker-host"),
				NoDocker:        c.Bool("no-docker"),
				ProxySocket:     c.String("proxy-socket"),
				PluginSockets:   splitList(c.StringSlice("plugin-socket")),
				Logger:          logger,
			}
			cfg.FastPathUnencrypted = c.Bool("fastpath-unencrypted")
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

// newLogger returns the logger of `up`, writing to w: level is debug,
// info, warn or error, format text or json.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	l, ok := levels[strings.ToLower(level)]
	if !ok {
		return nil, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
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
