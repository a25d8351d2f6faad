package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/web"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show the router's state",
		ArgsUsage: "[peers|connections|attachments|fastpath|ipam|isolation|dns]",
		Description: "Without a section it shows the health block, then the router's overview; it exits\n" +
			"with 3 when the router answers but is unhealthy (links fallen back, peers or IPAM owners\n" +
			"unreachable, no gossip for a while, isolation rules not applied), with --json too.",
		Flags: []cli.Flag{
			apiFlag,
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			&cli.BoolFlag{Name: "web", Usage: "print the address of the router's live status page (up --http-addr)"},
		},
		Action: func(c *cli.Context) error {
			what := c.Args().First()
			if what == "dns" {
				return statusDNS(c)
			}
			switch what {
			case "", "peers", "connections", "attachments", "fastpath", "ipam", "isolation":
			default:
				return cli.Exit(fmt.Sprintf("status: unknown section %q (want peers, connections, attachments, fastpath, ipam, isolation or dns)", what), 2)
			}
			s, err := api.NewClient(c.String("api")).Status(c.Context)
			if err != nil {
				return cli.Exit(err.Error(), 1)
			}
			w := c.App.Writer
			if c.Bool("web") {
				if s.HTTPAddr == "" {
					return cli.Exit("status --web: the router serves its status page only on the API socket (curl --unix-socket "+
						c.String("api")+" http://localhost/); start it with --http-addr 127.0.0.1:6784 for a browser", 1)
				}
				fmt.Fprintln(w, web.URL(s.HTTPAddr))
				return nil
			}
			noteHealth(c, s)
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
				case "fastpath":
					return enc.Encode(s.Fastpath)
				case "ipam":
					return enc.Encode(s.IPAM)
				case "isolation":
					h, err := api.NewClient(c.String("api")).HostStatus(c.Context)
					if err != nil {
						return cli.Exit(err.Error(), 1)
					}
					return enc.Encode(h)
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
			case "fastpath":
				printFastpath(w, s.Fastpath)
			case "ipam":
				printIPAM(w, s.IPAM)
			case "isolation":
				h, err := api.NewClient(c.String("api")).HostStatus(c.Context)
				if err != nil {
					return cli.Exit(err.Error(), 1)
				}
				printHost(w, &h, s.Attachments)
			default:
				printSummary(w, s)
			}
			return nil
		},
	}
}

func printSummary(w io.Writer, s api.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	printHealth(tw, api.CheckHealth(s))
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
	if s.Insecure {
		fmt.Fprintf(tw, "Security:\tINSECURE: no secret (--insecure); anyone who reaches this router's ports can join the mesh\n")
	} else {
		fmt.Fprintf(tw, "Security:\tsecret from %s ('weave-switch join-token' prints what another host joins with)\n", s.Secret)
	}
	fmt.Fprintf(tw, "Encryption:\t%s\n", s.Encryption)
	fmt.Fprintf(tw, "Bridge:\t%s, port %s, MTU %d\n", s.Bridge, s.TAP, s.MTU)
	fmt.Fprintf(tw, "Peers:\t%d (%d reachable)\n", len(s.Peers), reachable)
	fmt.Fprintf(tw, "Connections:\t%d (%d established)\n", len(s.Connections), established)
	fmt.Fprintf(tw, "MACs:\t%d of %d (learned %d, moved %d, evicted %d)\n",
		s.Switch.Entries, s.Switch.Capacity, s.Switch.Learned, s.Switch.Moves, s.Switch.Evictions)
	fmt.Fprintf(tw, "Frames:\tfrom bridge %d, to bridge %d, no route %d, send errors %d\n",
		s.Data.FromBridge, s.Data.ToBridge, s.Data.NoRoute+s.Data.NoPeer, s.Data.SendErrors)
	if d := s.Data; d.Unknown+d.WrongSource+d.BadGSO > 0 {
		fmt.Fprintf(tw, "Refused:	unknown sender %d, wrong source %d, bad GSO %d\n", d.Unknown, d.WrongSource, d.BadGSO)
	}
	fmt.Fprintf(tw, "Datapath:\t%s (%s)\n", s.Fastpath.Backend, s.Fastpath.Reason)
	if s.Fastpath.Unencrypted {
		fmt.Fprintf(tw, "Warning:\tthe fast path carries the links unencrypted (--fastpath-unencrypted)\n")
	}
	fmt.Fprintf(tw, "Attached:\t%d\n", len(s.Attachments))
	if s.IPAM != nil {
		fmt.Fprintf(tw, "IPAM:\t%s\n", ipamSummary(s.IPAM))
	}
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

// printConnections writes one line per link, within 100 columns for
// IPv4 underlays. Why a link is not up, why it fell back or is off the
// fast path, a measured path MTU, a route other than direct (punched,
// relayed via a peer) and an endpoint other than the dialled address
// (learned behind a NAT) follow the table, one line per link that has
// any, which names the link in full.
func printConnections(w io.Writer, conns []api.Connection) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "DIR\tADDRESS\tPEER\tSTATE\tTRANSPORT\tPATH\tENC\tRTT\tTX\tRX")
	var notes []string
	for _, c := range conns {
		dir := "->"
		if c.Direction == "inbound" {
			dir = "<-"
		}
		peer := c.Nickname
		if peer == "" {
			peer = c.Peer
		}
		tr := dash(c.Transport)
		if c.Fallback != "" {
			tr += "*"
		}
		path := "-"
		switch c.Datapath {
		case "fastpath":
			path = "fast"
		case "userspace":
			path = "user"
		}
		enc := "no"
		if c.Encrypted {
			enc = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dir, c.Address, dash(clip(peer, 12)), c.State,
			tr, path, enc, fmtSeconds(c.RTT), fmtBytes(c.TxBytes), fmtBytes(c.RxBytes))
		var why []string
		if c.Reason != "" {
			why = append(why, c.Reason)
		}
		if c.Fallback != "" {
			why = append(why, "*"+c.Fallback)
		}
		if c.Cipher != "" {
			why = append(why, "cipher "+c.Cipher)
		}
		if c.DatapathReason != "" {
			why = append(why, "fast path: "+c.DatapathReason)
		}
		if c.PathMTU > 0 {
			why = append(why, "path MTU "+strconv.Itoa(c.PathMTU))
		}
		if c.Path != "" && c.Path != "direct" {
			why = append(why, c.Path)
		}
		if c.Endpoint != "" && c.Endpoint != c.Address {
			why = append(why, "endpoint "+c.Endpoint)
		}
		if len(why) > 0 {
			who := strings.Join([]string{dir, c.Address, dash(api.PeerLabel(c.Peer, c.Nickname)), c.State, tr, dash(c.Datapath)}, " ")
			notes = append(notes, "  "+who+": "+strings.Join(why, "; "))
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func printAttachments(w io.Writer, atts []api.Attachment) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CONTAINER\tNETNS\tVETH\tMAC\tADDRESSES")
	for _, a := range atts {
		ns, veth := a.NetNS, a.HostVeth
		if a.Stopped {
			ns, veth = "(stopped)", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", dash(a.Container), ns, veth, a.MAC, a.Addrs)
	}
	tw.Flush()
}

func printFastpath(w io.Writer, f api.Fastpath) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Backend:\t%s (%s)\n", f.Backend, f.Reason)
	if f.Backend != "userspace" {
		fmt.Fprintf(tw, "Device:\t%s, UDP %d, VNI %d\n", dash(f.Device), f.Port, f.VNI)
		fmt.Fprintf(tw, "Health:\theartbeat every %s, fallback after %s unanswered\n", fmtSeconds(f.HeartbeatInterval), fmtSeconds(f.DownAfter))
		fmt.Fprintf(tw, "Fence:\t%s, %d datagrams from non-peers dropped\n", dash(f.Fence), f.FenceDrops)
	}
	if f.Unencrypted {
		fmt.Fprintf(tw, "Unencrypted:\tyes (%s)\n", f.UnencryptedReason)
	}
	fmt.Fprintf(tw, "Entries:\t%d (installed %d, removed %d, misses %d, errors %d)\n", f.Entries, f.Installed, f.Removed, f.Misses, f.Errors)
	fmt.Fprintf(tw, "Links:\t%d (fallbacks %d, recoveries %d)\n", len(f.Links), f.Fallbacks, f.Recoveries)
	tw.Flush()
	if len(f.Links) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PEER\tADDRESS\tSTATE\tSINCE\tLAST ACK\tRTT\tFALLBACKS\tRECOVERIES\tREASON")
		for _, l := range f.Links {
			ack := "-"
			if !l.LastAck.IsZero() {
				ack = time.Since(l.LastAck).Round(time.Millisecond).String() + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", l.Peer, dash(l.Addr), l.State,
				l.Since.Format(time.TimeOnly), ack, fmtSeconds(l.RTT), l.Fallbacks, l.Recoveries, l.Reason)
		}
		tw.Flush()
	}
	if len(f.Table) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tMAC\tPEER\tADDRESS\tVIA\tUSED")
		for _, e := range f.Table {
			used := "-"
			if !e.Used.IsZero() {
				used = time.Since(e.Used).Round(10*time.Millisecond).String() + " ago"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Kind, e.MAC, e.Peer, dash(e.Addr), dash(e.Detail), used)
		}
		tw.Flush()
	}
}
