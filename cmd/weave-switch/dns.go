package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

// dnsArgs splits IP... [NAME]: the addresses, then an optional name.
func dnsArgs(args []string, needName bool) ([]netip.Addr, string, error) {
	var addrs []netip.Addr
	name := ""
	for i, s := range args {
		a, err := netip.ParseAddr(s)
		if err == nil {
			addrs = append(addrs, a)
			continue
		}
		if i != len(args)-1 {
			return nil, "", fmt.Errorf("%q is not an IP address", s)
		}
		name = s
	}
	if len(addrs) == 0 {
		return nil, "", fmt.Errorf("no IP address")
	}
	if needName && name == "" {
		return nil, "", fmt.Errorf("no name")
	}
	return addrs, name, nil
}

func dnsAddCommand() *cli.Command {
	return &cli.Command{
		Name:      "dns-add",
		Usage:     "register a name for addresses in the mesh's DNS (NAME or NAME.weave.local)",
		ArgsUsage: "IP... NAME",
		Flags:     []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			addrs, name, err := dnsArgs(c.Args().Slice(), true)
			if err != nil {
				return cli.Exit("dns-add: "+err.Error()+" (usage: weave-switch dns-add IP... NAME)", 2)
			}
			r, err := api.NewClient(c.String("api")).DNSAdd(c.Context, addrs, name)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			fmt.Fprintln(c.App.Writer, r.Name)
			return nil
		},
	}
}

func dnsRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "dns-remove",
		Usage:     "remove this router's names for addresses (only NAME's, if given)",
		ArgsUsage: "IP... [NAME]",
		Flags:     []cli.Flag{apiFlag},
		Action: func(c *cli.Context) error {
			addrs, name, err := dnsArgs(c.Args().Slice(), false)
			if err != nil {
				return cli.Exit("dns-remove: "+err.Error()+" (usage: weave-switch dns-remove IP... [NAME])", 2)
			}
			r, err := api.NewClient(c.String("api")).DNSRemove(c.Context, addrs, name)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			if r.Changed == 0 {
				return cli.Exit("dns-remove: no such name on this router", 1)
			}
			return nil
		},
	}
}

// statusDNS is `status dns [--json]`.
func statusDNS(c *cli.Context) error {
	st, err := api.NewClient(c.String("api")).DNSStatus(c.Context)
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printDNS(c.App.Writer, &st)
	return nil
}

func printDNS(w io.Writer, st *api.DNSStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Domain:\t%s\n", st.Domain)
	fmt.Fprintf(tw, "Listen:\t%s (TTL %d s)\n", st.Listen, st.TTL)
	serving := strings.Join(st.Serving, ", ")
	if serving == "" {
		serving = "nothing (the bridge has no IPv4 address: weave-switch expose gives it one)"
	}
	fmt.Fprintf(tw, "Serving:\t%s\n", serving)
	fmt.Fprintf(tw, "Upstreams:\t%v\n", st.Upstreams)
	fmt.Fprintf(tw, "Entries:\t%d\n", len(st.Entries))
	tw.Flush()
	if len(st.Entries) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tADDRESS\tOWNER\tKEY")
		for _, e := range st.Entries {
			owner := e.Owner
			if e.OwnerNickname != "" {
				owner += "(" + e.OwnerNickname + ")"
			}
			if e.Local {
				owner += " *"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Addr, owner, e.Key)
		}
		tw.Flush()
	}
}
