package isolation

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
)

// Drops counts the frames the filter dropped at one port.
type Drops struct {
	// SpoofedMAC: sent by the container with a source MAC not its own.
	SpoofedMAC uint64 `json:"spoofed_mac"`
	// Spoofed: sent with its MAC but a source address not its own, or a
	// protocol containers may not send.
	Spoofed uint64 `json:"spoofed"`
	// OtherApplication: addressed to the container from a subnet it is
	// not in and not allowed to talk to.
	OtherApplication uint64 `json:"other_application"`
}

// Drops reads the filter's drop counters for bridge, by port interface
// name. A missing table (isolation off) gives an empty map.
func (n NFT) Drops(ctx context.Context, bridge string) (map[string]Drops, error) {
	argv := n.Command
	if len(argv) == 0 {
		argv = []string{"nft"}
	}
	argv = append(argv[:len(argv):len(argv)], "-j", "list", "table", "bridge", TableName(bridge))
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
	if err != nil {
		// nft says "No such file or directory" for a missing table.
		if ee, ok := err.(*exec.ExitError); ok && strings.Contains(string(ee.Stderr), "No such file") {
			return map[string]Drops{}, nil
		}
		return nil, fmt.Errorf("nft list table: %w", err)
	}
	return ParseDrops(out)
}

// ParseDrops reads the drop counters out of `nft -j list table` output:
// the counters of the rules in the in-PORT and out-PORT chains, told
// apart by their comments.
func ParseDrops(js []byte) (map[string]Drops, error) {
	var doc struct {
		Nftables []struct {
			Rule *struct {
				Chain   string            `json:"chain"`
				Comment string            `json:"comment"`
				Expr    []json.RawMessage `json:"expr"`
			} `json:"rule"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, fmt.Errorf("nft JSON: %w", err)
	}
	out := map[string]Drops{}
	for _, o := range doc.Nftables {
		r := o.Rule
		if r == nil {
			continue
		}
		var n uint64
		for _, e := range r.Expr {
			var c struct {
				Counter *struct {
					Packets uint64 `json:"packets"`
				} `json:"counter"`
			}
			if json.Unmarshal(e, &c) == nil && c.Counter != nil {
				n += c.Counter.Packets
			}
		}
		var port string
		var field *uint64
		d := Drops{}
		switch {
		case strings.HasPrefix(r.Chain, "in-"):
			port = r.Chain[3:]
			d = out[port]
			field = &d.Spoofed
			if r.Comment == "spoofed MAC" {
				field = &d.SpoofedMAC
			}
		case strings.HasPrefix(r.Chain, "out-"):
			port = r.Chain[4:]
			d = out[port]
			field = &d.OtherApplication
		default:
			continue
		}
		*field += n
		out[port] = d
	}
	return out, nil
}
