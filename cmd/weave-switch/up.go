package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/weave-switch/weave-switch/config"
	buildversion "github.com/weave-switch/weave-switch/internal/version"
)

func version() string { return buildversion.Version }

// upFlags are the flags of `up`; each can also be set in the --config file.
// EnvTestClock, set to 1 or to an offset (a Go duration: 1h, -10m),
// starts the router with a wall clock that far from the system's, which
// the API steps (POST /v1/debug/clock): a hook for the fault tests,
// never for production.
const EnvTestClock = "WS_TEST_CLOCK"

// parseTestClock reads EnvTestClock: empty or 0 is off.
func parseTestClock(v string) (on bool, offset time.Duration, err error) {
	switch v {
	case "", "0":
		return false, 0, nil
	case "1":
		return true, 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return false, 0, fmt.Errorf("%s=%q: neither 1 nor an offset like -10m", EnvTestClock, v)
	}
	return true, d, nil
}

var upFlags = []cli.Flag{
	altsrc.NewStringFlag(&cli.StringFlag{Name: "name", Usage: "peer name aa:bb:cc:dd:ee:ff", DefaultText: "derived from the host, kept in --data-dir", EnvVars: []string{"WEAVE_SWITCH_NAME"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "nickname", Usage: "human name shown in status", DefaultText: "the host name", EnvVars: []string{"WEAVE_SWITCH_NICKNAME"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "listen", Value: ":6783", Usage: "HOST:PORT peers dial: TCP for the control connection (handshake, gossip), UDP for the sleeve transport; a specific HOST is also the source of the connections this router makes", EnvVars: []string{"WEAVE_SWITCH_LISTEN"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "peer", Usage: "HOST[:PORT][,transport=T] of a peer (repeatable; WEAVE_SWITCH_PEERS holds several, apart by spaces or commas)", EnvVars: []string{"WEAVE_SWITCH_PEERS"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "transport", Value: "sleeve", Usage: "transport asked for on links: sleeve, wireguard or quic (falls back to sleeve, visibly, where a peer lacks it)", EnvVars: []string{"WEAVE_SWITCH_TRANSPORT"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "cipher", Value: "auto", Usage: "cipher of encrypted sleeve links: auto (aes256-gcm where both routers have hardware AES, else chacha20-poly1305), aes256-gcm or chacha20-poly1305 (an explicit one refuses peers that do not accept it)", EnvVars: []string{"WEAVE_SWITCH_CIPHER"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "offer", Usage: "further transports to offer peers: wireguard, quic (repeatable)", EnvVars: []string{"WEAVE_SWITCH_OFFER"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "wireguard-listen", Value: ":51820", Usage: "UDP HOST:PORT of the WireGuard transport", EnvVars: []string{"WEAVE_SWITCH_WIREGUARD_LISTEN"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "quic-listen", Value: ":6784", Usage: "UDP HOST:PORT of the QUIC transport", EnvVars: []string{"WEAVE_SWITCH_QUIC_LISTEN"}}),
	altsrc.NewDurationFlag(&cli.DurationFlag{Name: "keepalive", Value: config.DefaultKeepalive, Usage: "longest an idle link stays silent, holding NAT mappings: the data-path heartbeats on idle links (every second on links with traffic), WireGuard's and QUIC's keepalive; an idle link that dies is found within it and 6 s", EnvVars: []string{"WEAVE_SWITCH_KEEPALIVE"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "relay", Usage: "offer this router as a relay: peers with no link between them (both behind NAT) are routed through it in preference", EnvVars: []string{"WEAVE_SWITCH_RELAY"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-punch", Usage: "do not punch holes through NAT to peers this router cannot dial (they stay relayed)", EnvVars: []string{"WEAVE_SWITCH_NO_PUNCH"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "bridge", Value: "weave", Usage: "name of the Linux bridge", EnvVars: []string{"WEAVE_SWITCH_BRIDGE"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: apiFlag.Name, Usage: apiFlag.Usage, Value: apiFlag.Value, EnvVars: apiFlag.EnvVars}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "api-group", Usage: "group whose members may use the API socket (mode 0660); else only root", EnvVars: []string{"WEAVE_SWITCH_API_GROUP"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "data-dir", Value: "/var/lib/weave-switch", Usage: "state kept across restarts", EnvVars: []string{"WEAVE_SWITCH_DATA_DIR"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "mtu", Usage: "overlay MTU", DefaultText: "1500 minus the transport's overhead", EnvVars: []string{"WEAVE_SWITCH_MTU"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "join", Usage: "join token (from 'weave-switch join-token' on a member): the mesh's secret and addresses to dial", EnvVars: []string{"WEAVE_SWITCH_JOIN"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "password-file", Usage: "file with the mesh's secret, instead of the one kept in --data-dir (or set WEAVE_SWITCH_PASSWORD)", EnvVars: []string{"WEAVE_SWITCH_PASSWORD_FILE"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "insecure", Usage: "run the mesh without a secret: nothing is authenticated or encrypted, anyone who reaches the ports can join", EnvVars: []string{"WEAVE_SWITCH_INSECURE"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-discovery", Usage: "connect only to --peer and 'connect' targets, not to peers learned from gossip", EnvVars: []string{"WEAVE_SWITCH_NO_DISCOVERY"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "metrics-addr", Usage: "also serve Prometheus metrics on HOST:PORT (e.g. 127.0.0.1:6782); always on the API socket at /metrics", EnvVars: []string{"WEAVE_SWITCH_METRICS_ADDR"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "http-addr", Usage: "also serve the read-only status page on HOST:PORT (e.g. 127.0.0.1:6784); always on the API socket at /", EnvVars: []string{"WEAVE_SWITCH_HTTP_ADDR"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "rx-workers", Usage: "goroutines writing received frames into the TAP, chosen per flow (1: none)", DefaultText: "none below 4 CPUs, else half the CPUs, at most 4", EnvVars: []string{"WEAVE_SWITCH_RX_WORKERS"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "tap-queues", Usage: "TAP queues, each read on its own goroutine", DefaultText: "one per CPU, at most 4", EnvVars: []string{"WEAVE_SWITCH_TAP_QUEUES"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-offload", Usage: "open the TAP without TSO/checksum offloads (slower; for comparison)", EnvVars: []string{"WEAVE_SWITCH_NO_OFFLOAD"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "datapath", Value: "auto", Usage: "kernel fast path: auto (ovs if the kernel has the OVS datapath, else vxlan, else userspace), userspace, vxlan or ovs", EnvVars: []string{"WEAVE_SWITCH_DATAPATH"}}),
	altsrc.NewIntFlag(&cli.IntFlag{Name: "fastpath-port", Value: 6785, Usage: "UDP port of the kernel fast path (vxlan), the same on every host", EnvVars: []string{"WEAVE_SWITCH_FASTPATH_PORT"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "fastpath-unencrypted", Usage: "with a password, let --datapath vxlan|ovs carry the links unencrypted in the kernel (no kernel backend encrypts)", EnvVars: []string{"WEAVE_SWITCH_FASTPATH_UNENCRYPTED"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "ipalloc-range", Value: "10.32.0.0/12", Usage: "range container addresses are allocated from (the lower half is the default subnet, app:NAME subnets are /24s of the upper half)", EnvVars: []string{"WEAVE_SWITCH_IPALLOC_RANGE"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "ipalloc-seed", Usage: "peer names the allocation ring is created with; give every router the same list", DefaultText: "a router without --peer seeds alone, one with --peer waits for the ring", EnvVars: []string{"WEAVE_SWITCH_IPALLOC_SEED"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-isolation", Usage: "do not filter container ports: every application subnet shares one unfiltered L2 segment, as in Weave Net", EnvVars: []string{"WEAVE_SWITCH_NO_ISOLATION"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "allow", Usage: "A,B: let application subnets A and B talk (repeatable; \"A B\" works too, as in 'allow A B' at run time)", EnvVars: []string{"WEAVE_SWITCH_ALLOW"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "docker-host", Usage: "Docker daemon to serve as network plugin and API proxy", DefaultText: "$DOCKER_HOST, else unix:///var/run/docker.sock", EnvVars: []string{"WEAVE_SWITCH_DOCKER_HOST"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-docker", Usage: "no Docker integration: no network plugin, API proxy or events watcher", EnvVars: []string{"WEAVE_SWITCH_NO_DOCKER"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "proxy-socket", Value: config.DefaultProxySocket, Usage: "unix socket of the Docker API proxy ('eval $(weave-switch env)' points docker at it)", EnvVars: []string{"WEAVE_SWITCH_PROXY_SOCKET"}}),
	altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: "plugin-socket", Usage: "unix sockets of the Docker network and IPAM plugin", DefaultText: strings.Join(config.DefaultPluginSockets, " and "), EnvVars: []string{"WEAVE_SWITCH_PLUGIN_SOCKETS"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "cni-state-dir", Value: config.DefaultCNIStateDir, Usage: "directory shared with the CNI plugin: the releases it recorded while the router was down (carried out at start) and the CNI attachments, which outlive the router ('' for none: they end with it)", EnvVars: []string{"WEAVE_SWITCH_CNI_STATE_DIR"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "no-dns", Usage: "no DNS server and no mesh-wide name registry", EnvVars: []string{"WEAVE_SWITCH_NO_DNS"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "dns-listen", Usage: "IP:PORT the DNS server answers on", DefaultText: "port 53 of each IPv4 address of the bridge, as they come and go", EnvVars: []string{"WEAVE_SWITCH_DNS_LISTEN"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "dns-domain", Value: "weave.local.", Usage: "domain the DNS server answers from the mesh's names; other names go to the host's resolvers", EnvVars: []string{"WEAVE_SWITCH_DNS_DOMAIN"}}),
	altsrc.NewDurationFlag(&cli.DurationFlag{Name: "dns-ttl", Value: time.Second, Usage: "TTL of the answers for the mesh's names", EnvVars: []string{"WEAVE_SWITCH_DNS_TTL"}}),
	altsrc.NewBoolFlag(&cli.BoolFlag{Name: "kube", Usage: "Kubernetes mode: peers are the cluster's nodes (in-cluster config); a node deleted from the cluster is forgotten and rmpeer'ed once its router is dead", EnvVars: []string{"WEAVE_SWITCH_KUBE"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "kube-node-name", Usage: "with --kube, this router's node (give it and --nickname the node's name)", DefaultText: "--nickname", EnvVars: []string{"WEAVE_SWITCH_KUBE_NODE_NAME", "NODE_NAME"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"WEAVE_SWITCH_LOG_LEVEL"}}),
	altsrc.NewStringFlag(&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json (the log goes to stderr)", EnvVars: []string{"WEAVE_SWITCH_LOG_FORMAT"}}),
}

func upCommand() *cli.Command {
	return &cli.Command{
		Name:  "up",
		Usage: "run this host's router in the foreground until SIGINT/SIGTERM or 'down'",
		Description: "Runs the router until SIGINT, SIGTERM or 'weave-switch down'. Under systemd (Type=notify) it\n" +
			"reports READY=1 once it serves and STOPPING=1 when it stops. SIGHUP reloads the --config file:\n" +
			"log-level and peer (peers added are connected, peers removed forgotten) apply at once; any other\n" +
			"setting changed there is logged as taking effect at the next start. A flag or environment\n" +
			"variable given at start wins over the file, on reload too.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Usage: "YAML file setting any of these flags (keys are the flag names; flags on the command line win)", EnvVars: []string{"WEAVE_SWITCH_CONFIG"}},
		}, upFlags...),
		Before: func(c *cli.Context) error {
			// What the command line and environment set, before the file
			// fills in the rest: a reload must not override them.
			fixed := map[string]bool{}
			for _, f := range upFlags {
				if n := f.Names()[0]; c.IsSet(n) {
					fixed[n] = true
				}
			}
			c.App.Metadata = map[string]any{"fixed": fixed}
			if err := altsrc.InitInputSourceWithContext(upFlags, altsrc.NewYamlSourceFromFlagFunc("config"))(c); err != nil {
				return cli.Exit("--config: "+err.Error(), 2)
			}
			return nil
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit("up takes no arguments, got "+strings.Join(c.Args().Slice(), " "), 2)
			}
			level := new(slog.LevelVar)
			logger, err := newLogger(os.Stderr, level, c.String("log-level"), c.String("log-format"))
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			setMemoryLimit(logger)
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
			testClock, testOffset, err := parseTestClock(os.Getenv(EnvTestClock))
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			allow, err := splitPairs(c.StringSlice("allow"))
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			cfg := config.Config{
				TestClock:       testClock,
				TestClockOffset: testOffset,
				Password:        password,
				Join:            c.String("join"),
				Insecure:        c.Bool("insecure"),
				Transport:       c.String("transport"),
				Cipher:          c.String("cipher"),
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
				Peers:           splitPeers(c.StringSlice("peer")),
				Bridge:          c.String("bridge"),
				API:             c.String("api"),
				DataDir:         c.String("data-dir"),
				MTU:             c.Int("mtu"),
				NoOffload:       c.Bool("no-offload"),
				Queues:          c.Int("tap-queues"),
				RxWorkers:       c.Int("rx-workers"),
				MetricsAddr:     c.String("metrics-addr"),
				HTTPAddr:        c.String("http-addr"),
				IPAllocRange:    c.String("ipalloc-range"),
				IPAllocSeeds:    splitList(c.StringSlice("ipalloc-seed")),
				NoIsolation:     c.Bool("no-isolation"),
				Allow:           allow,
				Datapath:        c.String("datapath"),
				FastPathPort:    c.Int("fastpath-port"),
				DockerHost:      c.String("docker-host"),
				NoDocker:        c.Bool("no-docker"),
				ProxySocket:     c.String("proxy-socket"),
				PluginSockets:   splitList(c.StringSlice("plugin-socket")),
				CNIStateDir:     c.String("cni-state-dir"),
				NoDNS:           c.Bool("no-dns"),
				DNSListen:       c.String("dns-listen"),
				DNSDomain:       c.String("dns-domain"),
				DNSTTL:          c.Duration("dns-ttl"),
				Kube:            c.Bool("kube"),
				KubeNodeName:    c.String("kube-node-name"),
				Logger:          logger,
			}
			cfg.FastPathUnencrypted = c.Bool("fastpath-unencrypted")
			if err := cfg.Validate(); err != nil {
				return cli.Exit(strings.ReplaceAll(err.Error(), "\n", "; "), 2)
			}
			fixed, _ := c.App.Metadata["fixed"].(map[string]bool)
			u := &upRun{cfg: cfg, level: level, file: c.String("config"), fixed: fixed, apiGroup: c.String("api-group")}
			return u.run(c.Context)
		},
	}
}

// newLogger returns the logger of `up`, writing to w at the level lv
// (set to level: debug, info, warn or error; a reload changes lv) in
// format text or json.
func newLogger(w io.Writer, lv *slog.LevelVar, level, format string) (*slog.Logger, error) {
	l, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not text or json", format)
}

// parseLevel reads a --log-level.
func parseLevel(level string) (slog.Level, error) {
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
	l, ok := levels[strings.ToLower(level)]
	if !ok {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", level)
	}
	return l, nil
}

// splitList accepts --offer a --offer b, --offer a,b and, from the
// environment, WEAVE_SWITCH_OFFER="a b".
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		out = append(out, strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })...)
	}
	return out
}

// splitPeers splits --peer values (and WEAVE_SWITCH_PEERS) into peer
// specs: spaces separate peers, and so do commas, except before an
// option (HOST,transport=T), which stays with its peer.
func splitPeers(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, f := range strings.Fields(v) {
			for _, part := range strings.Split(f, ",") {
				switch {
				case part == "":
				case strings.Contains(part, "=") && len(out) > 0:
					out[len(out)-1] += "," + part
				default:
					out = append(out, part)
				}
			}
		}
	}
	return out
}

// setMemoryLimit makes a memory limit on the router's cgroup (a
// container's, a systemd unit's MemoryMax) the Go runtime's soft limit,
// at 90 % of it: near the limit the garbage collector works harder
// rather than letting the heap grow into the kernel's OOM killer. A
// GOMEMLIMIT in the environment wins; AUTOMEMLIMIT=off turns this off,
// AUTOMEMLIMIT=0.8 takes another share.
func setMemoryLimit(log *slog.Logger) {
	limit, err := memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup))
	switch {
	case err != nil:
		log.Debug("no memory limit from the cgroup", "err", err)
	case limit < math.MaxInt64:
		log.Info("memory limit", "go_soft_limit_bytes", limit)
	}
}
