package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show the router's state",
		ArgsUsage: "[peers|connections|attachments]",
		Flags: []cli.Flag{
			apiFlag,
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
		},
		Action: func(c *cli.Context) error {
			what := c.Args().First()
			switch what {
			case "", "peers", "connections", "attachments":
			default:
				return cli.Exit(fmt.Sprintf("status: unknown section %q (want peers, connections or attachments)", what), 2)
			}
			s, err := api.NewClient(c.String("api")).Status(c.Context)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			w := c.App.Writer
			if c.Bool("json") {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				switch what {
				case "peers":
					return enc.Encode(s.Peers)
				case "connections":
					return enc.Encode(s.Connections)
				case "attachments":
					return enc.Encode(s.Attachments)
				}
				return enc.Encode(s)
			}
			switch what {
			case "peers":
				printPeers(w, s.Peers)
			case "connections":
				printConnections(w, s.Connections)
			case "attachments":
				printAttachments(w, s.Attachments)
			default:
				printSummary(w, s)
			}
			return nil
		},
	}
}

func printSummary(w io.Writer, s api.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	established, reachable := 0, 0
	for _, c := range s.Connections {
		if c.State == "established" {
			established++
		}
	}
	for _, p := range s.Peers {
		if p.Reachable {
			reachable++
		}
	}
	fmt.Fprintf(tw, "Version:\t%s (up %s)\n", s.Version, time.Since(s.Started).Round(time.Second))
	fmt.Fprintf(tw, "Name:\t%s (%s)\n", s.Name, s.Nickname)
	fmt.Fprintf(tw, "Listen:\t%s (TCP control, UDP %s)\n", s.Listen, s.Transport)
	fmt.Fprintf(tw, "Encryption:\t%s\n", s.Encryption)
	fmt.Fprintf(tw, "Bridge:\t%s, port %s, MTU %d\n", s.Bridge, s.TAP, s.MTU)
	fmt.Fprintf(tw, "Peers:\t%d (%d reachable)\n", len(s.Peers), reachable)
	fmt.Fprintf(tw, "Connections:\t%d (%d established)\n", len(s.Connections), established)
	fmt.Fprintf(tw, "MACs:\t%d of %d (learned %d, moved %d, evicted %d)\n",
		s.Switch.Entries, s.Switch.Capacity, s.Switch.Learned, s.Switch.Moves, s.Switch.Evictions)
	fmt.Fprintf(tw, "Frames:\tfrom bridge %d, to bridge %d, no route %d, send errors %d\n",
		s.Data.FromBridge, s.Data.ToBridge, s.Data.NoRoute+s.Data.NoPeer, s.Data.SendErrors)
	fmt.Fprintf(tw, "Attached:\t%d\n", len(s.Attachments))
	tw.Flush()
}

func printPeers(w io.Writer, peers []api.Peer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tNICKNAME\tREACHABLE\tNEXT HOP\tCONNECTIONS")
	for _, p := range peers {
		hop := p.NextHop
		if hop == "" {
			hop = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%d (%d established)\n", p.Name, p.Nickname, p.Reachable, hop, p.Connections, p.Established)
	}
	tw.Flush()
}

func printConnections(w io.Writer, conns []api.Connection) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tADDRESS\tPEER\tSTATE\tTRANSPORT\tDATAPATH\tENCRYPTED\tMTU\tRTT\tREASON")
	for _, c := range conns {
		dir := "->"
		if c.Direction == "inbound" {
			dir = "<-"
		}
		peer := c.Peer
		if c.Nickname != "" {
			peer += "(" + c.Nickname + ")"
		}
		tr := dash(c.Transport)
		reason := c.Reason
		if c.Fallback != "" {
			tr += "*"
			reason = strings.TrimSpace(reason + " (" + c.Fallback + ")")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%v\t%d\t%s\t%s\n", dir, c.Address, dash(peer), c.State,
			tr, dash(c.Datapath), c.Encrypted, c.MTU, dash(c.RTT), reason)
	}
	tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printAttachments(w io.Writer, atts []api.Attachment) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NETNS\tVETH\tMAC\tADDRESSES")
	for _, a := range atts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", a.NetNS, a.HostVeth, a.MAC, a.Addrs)
	}
	tw.Flush()
}
