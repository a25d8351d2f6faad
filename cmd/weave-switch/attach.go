package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Usage:     "connect a network namespace or a Docker container to the weave bridge, with allocated or given addresses",
		ArgsUsage: "NETNS|PID|CONTAINER [CIDR|net:CIDR|net:default|app:NAME]... [--name NAME]",
		Description: "NETNS is a name under /run/netns or a path; a name with no namespace of its own is a Docker\n" +
			"container's name or ID: it keeps its addresses (and MAC) across docker stop/start and restart\n" +
			"and loses them when it is removed.\n" +
			"Without addresses the container gets one from the default subnet. net:CIDR and app:NAME\n" +
			"allocate from that subnet (app:NAME maps the name to a /24 of the range's upper half);\n" +
			"an explicit CIDR like 10.32.0.5/12 is used as given and claimed so nobody else gets it.",
		Flags: []cli.Flag{apiFlag,
			&cli.StringFlag{Name: "mac", Usage: "the container's MAC (e.g. the one it had on another host)", DefaultText: "a random one"},
			&cli.StringFlag{Name: "name", Usage: "register the container under NAME (or NAME.weave.local) in the mesh's DNS, until detach"},
			&cli.BoolFlag{Name: "no-resolv-conf", Usage: "do not point a named namespace's /etc/netns/NAME/resolv.conf at the router's DNS"}},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return cli.Exit("usage: weave-switch attach NETNS|PID|CONTAINER [CIDR|net:CIDR|app:NAME]... (e.g. attach ns1 app:web)", 2)
			}
			req := api.AttachRequest{NetNS: c.Args().First(), MAC: c.String("mac"), Name: c.String("name"), NoResolvConf: c.Bool("no-resolv-conf")}
			cidrs, subnets, err := api.ParseAddrSpecs(c.Args().Tail())
			if err != nil {
				return cli.Exit("attach: "+err.Error(), 2)
			}
			req.CIDRs, req.Subnets = cidrs, subnets
			a, err := api.NewClient(c.String("api")).Attach(c.Context, req)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			for _, p := range a.Addrs {
				fmt.Fprintln(c.App.Writer, p)
			}
			return nil
		},
	}
}

func detachCommand() *cli.Command {
	return &cli.Command{
		Name:      "detach",
		Usage:     "disconnect a network namespace or a Docker container from the weave bridge and release its addresses",
		ArgsUsage: "NETNS|PID|CONTAINER",
		Flags:     []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: weave-switch detach NETNS|PID|CONTAINER", 2)
			}
			r, err := api.NewClient(c.String("api")).Detach(c.Context, api.DetachRequest{NetNS: c.Args().First()})
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			if len(r.Released) > 0 && !r.Detached {
				fmt.Fprintf(c.App.Writer, "released %v (the namespace is gone)\n", r.Released)
			}
			if !r.Detached && len(r.Released) == 0 {
				return cli.Exit(fmt.Sprintf("detach: %s was not attached", c.Args().First()), 1)
			}
			return nil
		},
	}
}

func connectCommand() *cli.Command {
	return &cli.Command{
		Name:      "connect",
		Usage:     "connect to another router at run time",
		ArgsUsage: "HOST[:PORT]",
		Flags: []cli.Flag{apiFlag,
			&cli.StringFlag{Name: "transport", Usage: "transport to ask for on this link: sleeve, wireguard or quic"}},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: weave-switch connect HOST[:PORT] [--transport T]", 2)
			}
			if err := api.NewClient(c.String("api")).Connect(c.Context, c.Args().First(), c.String("transport")); err != nil {
				return cli.Exit(err.Error(), 1)
			}
			return nil
		},
	}
}

func forgetCommand() *cli.Command {
	return &cli.Command{
		Name:      "forget",
		Usage:     "stop connecting to a router (and drop the connection made for it)",
		ArgsUsage: "HOST[:PORT]",
		Flags:     []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("usage: weave-switch forget HOST[:PORT]", 2)
			}
			r, err := api.NewClient(c.String("api")).Forget(c.Context, c.Args().First())
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			if !r.Forgotten {
				return cli.Exit(fmt.Sprintf("forget: %s was not a connection target", c.Args().First()), 1)
			}
			return nil
		},
	}
}

func rmpeerCommand() *cli.Command {
	return &cli.Command{
		Name:      "rmpeer",
		Usage:     "reclaim the address space of peers that are gone for good",
		ArgsUsage: "NAME|NICKNAME...",
		Description: "Every other member of the allocation ring must be reachable and agree; rmpeer is\n" +
			"refused for a peer that is still reachable, and while another reclaim of it runs.\n" +
			"Name every dead peer at once if several are gone.",
		Flags: []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 {
				return cli.Exit("usage: weave-switch rmpeer NAME|NICKNAME...", 2)
			}
			r, err := api.NewClient(c.String("api")).RmPeer(c.Context, c.Args().Slice())
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			fmt.Fprintf(c.App.Writer, "reclaimed %d addresses\n", r.Reclaimed)
			return nil
		},
	}
}
