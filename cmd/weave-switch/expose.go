package main

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

func parsePrefixes(cmd string, args []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range args {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, cli.Exit(fmt.Sprintf("%s: %q is not an address with a prefix length, like 10.32.0.254/12", cmd, s), 2)
		}
		out = append(out, p)
	}
	return out, nil
}

// exposeRequest sorts expose's and hide's arguments: subnet specs
// (net:CIDR, net:default, app:NAME) and explicit addresses (CIDR).
func exposeRequest(cmd string, args []string) (api.ExposeRequest, error) {
	var req api.ExposeRequest
	var plain []string
	for _, s := range args {
		if strings.HasPrefix(s, "net:") || strings.HasPrefix(s, "app:") {
			req.Subnets = append(req.Subnets, s)
		} else {
			plain = append(plain, s)
		}
	}
	var err error
	req.CIDRs, err = parsePrefixes(cmd, plain)
	return req, err
}

const exposeArgs = "[CIDR|net:CIDR|net:default|app:NAME]..."

func exposeCommand() *cli.Command {
	return &cli.Command{
		Name:      "expose",
		Usage:     "give the host an address on the weave network (it then reaches that subnet's containers on every host, and they reach it)",
		ArgsUsage: exposeArgs,
		Description: "Without arguments the host gets an allocated address in the default subnet; net:CIDR and\n" +
			"app:NAME allocate one in that subnet; an explicit CIDR like 10.32.0.254/12 is used as given.\n" +
			"'hide' with the same arguments takes the addresses away again.",
		Flags: []cli.Flag{apiFlag,
			&cli.BoolFlag{Name: "masquerade", Usage: "let containers in these subnets reach the outside world through this host (source NAT; IPv4)"}},
		Action: func(c *cli.Context) error {
			req, err := exposeRequest("expose", c.Args().Slice())
			if err != nil {
				return err
			}
			req.Masquerade = c.Bool("masquerade")
			r, err := api.NewClient(c.String("api")).Expose(c.Context, req)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			for _, p := range r.Addrs {
				fmt.Fprintln(c.App.Writer, p)
			}
			return nil
		},
	}
}

func hideCommand() *cli.Command {
	return &cli.Command{
		Name:      "hide",
		Usage:     "take exposed addresses away from the host (all of them without arguments)",
		ArgsUsage: exposeArgs,
		Description: "Takes the arguments of 'expose': an exposed address (CIDR) goes as given; net:CIDR,\n" +
			"net:default and app:NAME name the address that 'expose' allocated for the same argument,\n" +
			"which goes back to the allocator. Without arguments every exposed address goes.",
		Flags: []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			req, err := exposeRequest("hide", c.Args().Slice())
			if err != nil {
				return err
			}
			r, err := api.NewClient(c.String("api")).Hide(c.Context, req)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			for _, p := range r.Addrs {
				fmt.Fprintln(c.App.Writer, p)
			}
			return nil
		},
	}
}

func pairCommand(name, usage string, run func(c *cli.Context, a, b netip.Prefix) error) *cli.Command {
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "SUBNET-A SUBNET-B",
		Description: "The pair is written as everywhere else, 'up --allow' and the config file included:\n" +
			"SUBNET-A SUBNET-B or SUBNET-A,SUBNET-B, e.g. " + name + " 10.40.1.0/24,10.40.2.0/24.",
		Flags: []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			a, b, err := parsePairArgs(name, c.Args().Slice())
			if err != nil {
				if _, ok := err.(cli.ExitCoder); ok {
					return err
				}
				return cli.Exit(err.Error(), 2)
			}
			if err := run(c, a, b); err != nil {
				return cli.Exit(err.Error(), 1)
			}
			return nil
		},
	}
}

func allowCommand() *cli.Command {
	return pairCommand("allow", "let two application subnets talk, both ways, on every router of the mesh",
		func(c *cli.Context, a, b netip.Prefix) error {
			return api.NewClient(c.String("api")).Allow(c.Context, a, b)
		})
}

func denyCommand() *cli.Command {
	return pairCommand("deny", "isolate two application subnets again, on every router (undo allow)",
		func(c *cli.Context, a, b netip.Prefix) error {
			r, err := api.NewClient(c.String("api")).Deny(c.Context, a, b)
			if err == nil && !r.Removed {
				return fmt.Errorf("deny: %s and %s were not allowed", a, b)
			}
			return err
		})
}

var protoFlag = &cli.StringFlag{Name: "proto", Value: "tcp", Usage: "tcp or udp"}

// parseListenArg reads [ADDR:]PORT.
func parseListenArg(cmd, s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if p, err := strconv.ParseUint(s, 10, 16); err == nil && p > 0 {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p)), nil
	}
	return netip.AddrPort{}, cli.Exit(fmt.Sprintf("%s: %q is not PORT or ADDR:PORT", cmd, s), 2)
}

func parseTarget(cmd, s string) (netip.AddrPort, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, cli.Exit(fmt.Sprintf("%s: %q is not ADDR:PORT", cmd, s), 2)
	}
	return ap, nil
}

func serviceCommand(name, kind, usage, argsUsage string, remove bool) *cli.Command {
	want := 2
	if remove {
		want = 1
	}
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: argsUsage,
		Flags:     []cli.Flag{apiFlag, protoFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != want {
				return cli.Exit(fmt.Sprintf("usage: weave-switch %s [--proto tcp|udp] %s", name, argsUsage), 2)
			}
			listen, err := parseListenArg(name, c.Args().Get(0))
			if err != nil {
				return err
			}
			s := api.Service{Kind: kind, Proto: c.String("proto"), Listen: listen}
			cl := api.NewClient(c.String("api"))
			if remove {
				r, err := cl.RemoveService(c.Context, s)
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				if !r.Removed {
					return cli.Exit(fmt.Sprintf("%s: nothing is %sed on %s %s", name, kind, s.Proto, c.Args().Get(0)), 1)
				}
				return nil
			}
			if s.Target, err = parseTarget(name, c.Args().Get(1)); err != nil {
				return err
			}
			if err := cl.AddService(c.Context, s); err != nil {
				return cli.Exit(err.Error(), 1)
			}
			return nil
		},
	}
}

func publishCommand() *cli.Command {
	return serviceCommand("publish", "publish",
		"forward a host port to a container's port (the host needs an exposed address in the container's subnet)",
		"[HOST-ADDR:]PORT CONTAINER-ADDR:PORT", false)
}

func unpublishCommand() *cli.Command {
	return serviceCommand("unpublish", "publish", "stop forwarding a published host port", "[HOST-ADDR:]PORT", true)
}

func importCommand() *cli.Command {
	return serviceCommand("import", "import",
		"let containers reach an outside service at one of the host's exposed addresses",
		"EXPOSED-ADDR:PORT SERVICE-ADDR:PORT", false)
}

func unimportCommand() *cli.Command {
	return serviceCommand("unimport", "import", "stop forwarding an imported service", "EXPOSED-ADDR:PORT", true)
}

// printHost shows `status isolation`: the filter, allowed pairs, exposed
// addresses, services, and the drops per attached container.
func printHost(w io.Writer, h *api.HostStatus, atts []api.Attachment) {
	if h == nil {
		fmt.Fprintln(w, "no host side (router too old?)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	state := "on (nftables: anti-spoofing per port, subnet rule on delivery)"
	if !h.Isolation {
		state = "off (--no-isolation)"
	}
	fmt.Fprintf(tw, "Isolation:\t%s\n", state)
	fmt.Fprintf(tw, "Allowed:\t%s\n", dash(strings.Join(h.Allowed, "; ")))
	var exp []string
	for _, e := range h.Exposed {
		s := e.Addr.String()
		if e.Masquerade {
			s += " (masquerade)"
		}
		exp = append(exp, s)
	}
	fmt.Fprintf(tw, "Exposed:\t%s\n", dash(strings.Join(exp, ", ")))
	for _, s := range h.Services {
		l := s.Listen.String()
		if !s.Listen.Addr().IsValid() || s.Listen.Addr().IsUnspecified() {
			l = "*:" + strconv.Itoa(int(s.Listen.Port()))
		}
		fmt.Fprintf(tw, "Service:\t%s %s %s -> %s\n", s.Kind, s.Proto, l, s.Target)
	}
	tw.Flush()
	if !h.Isolation {
		return
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETNS\tVETH\tDROPPED: SPOOFED MAC\tSPOOFED ADDRESS/PROTOCOL\tOTHER APPLICATION")
	for _, a := range atts {
		if a.Stopped {
			continue
		}
		name := a.NetNS
		if a.Container != "" {
			name = a.Container
		}
		d := h.Drops[a.HostVeth]
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\n", name, a.HostVeth, d.SpoofedMAC, d.Spoofed, d.OtherApplication)
	}
	tw.Flush()
}
