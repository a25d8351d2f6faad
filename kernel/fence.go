package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"
)

// Fence limits who may send to the fast path's UDP port: the kernel
// backends decapsulate whatever arrives there, so only the underlay
// addresses of the peers whose links use the fast path may reach it.
// Allow is called from one goroutine; Dropped and Close are safe
// concurrently with it.
type Fence interface {
	// Start puts the fence up with no address allowed: from then on
	// the port accepts no datagram until Allow names its sender.
	Start() error
	// Allow makes the port accept datagrams from addrs only (IPv4; an
	// empty list accepts none). Re-applying the same list is cheap.
	Allow(addrs []netip.Addr) error
	// Dropped returns how many datagrams to the port the fence dropped.
	Dropped() (uint64, error)
	// Close removes the fence. It is idempotent.
	Close() error
}

// FenceAddrs are the addresses v lets send to the fast path's port: the
// underlay addresses of the links that are not LinkOff, sorted, each
// once. It is pure.
func FenceAddrs(v *View) []netip.Addr {
	if v == nil {
		return nil
	}
	var out []netip.Addr
	for p, l := range v.Links {
		if l.State == LinkOff || p == v.Self || !l.Addr.Unmap().Is4() {
			continue
		}
		out = append(out, l.Addr.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Names in the fence's nftables table.
const (
	fenceChain   = "fastpath-fence"
	fenceSet     = "fastpath-peers"
	fenceCounter = "fastpath-fence-drops"
)

// FenceTable is the name of the inet-family table that fences the fast
// path of a bridge: weave-switch-BRIDGE, as the isolation filter's tables
// of the bridge and ip families.
func FenceTable(bridge string) string { return "weave-switch-" + bridge }

// FenceScript renders the fence's table as one nft transaction that
// replaces whatever an earlier run left:
//
//	table inet weave-switch-BRIDGE
//	  set fastpath-peers           the peers' underlay addresses (IPv4)
//	  counter fastpath-fence-drops datagrams dropped
//	  chain fastpath-fence         hook input: UDP to port from a peer
//	                               accepted, from anyone else counted and
//	                               dropped (IPv6 always: the fast path is
//	                               IPv4 only)
func FenceScript(table string, port uint16, addrs []netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {}\ndelete table inet %s\n", table, table)
	fmt.Fprintf(&b, "table inet %s {\n", table)
	fmt.Fprintf(&b, "\tcounter %s {\n\t}\n", fenceCounter)
	fmt.Fprintf(&b, "\tset %s {\n\t\ttype ipv4_addr\n", fenceSet)
	if len(addrs) > 0 {
		fmt.Fprintf(&b, "\t\telements = { %s }\n", joinAddrs(addrs))
	}
	b.WriteString("\t}\n")
	fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook input priority filter; policy accept;\n", fenceChain)
	fmt.Fprintf(&b, "\t\tudp dport %d ip saddr @%s accept\n", port, fenceSet)
	fmt.Fprintf(&b, "\t\tudp dport %d counter name %q drop comment \"not a fast-path peer\"\n", port, fenceCounter)
	b.WriteString("\t}\n}\n")
	return b.String()
}

// FenceSetScript renders the change of the fence's set to addrs, as one
// transaction that leaves the chain and the counter alone.
func FenceSetScript(table string, addrs []netip.Addr) string {
	s := fmt.Sprintf("flush set inet %s %s\n", table, fenceSet)
	if len(addrs) > 0 {
		s += fmt.Sprintf("add element inet %s %s { %s }\n", table, fenceSet, joinAddrs(addrs))
	}
	return s
}

// FenceDeleteScript removes the fence's table (which may be absent).
func FenceDeleteScript(table string) string {
	return fmt.Sprintf("table inet %s {}\ndelete table inet %s\n", table, table)
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// ParseFenceDrops reads the packets of the fence's counter out of
// `nft -j list counter` output.
func ParseFenceDrops(js []byte) (uint64, error) {
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Name    string `json:"name"`
				Packets uint64 `json:"packets"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		return 0, fmt.Errorf("nft JSON: %w", err)
	}
	for _, o := range doc.Nftables {
		if o.Counter != nil && o.Counter.Name == fenceCounter {
			return o.Counter.Packets, nil
		}
	}
	return 0, errors.New("nft: no fence counter")
}

// fenceTimeout bounds one nft run.
const fenceTimeout = 10 * time.Second

// NFTFence is the Fence in nftables, applied with the nft program: see
// FenceScript. Its table is made by Start, its set replaced by Allow
// (the whole table again if someone removed it) and the table removed by
// Close.
type NFTFence struct {
	// Table is the table's name (FenceTable of the bridge); Port the
	// fast path's UDP port.
	Table string
	Port  uint16
	// Command is the nft program and leading arguments; if empty,
	// {"nft"}. Tests use {"ip", "netns", "exec", NAME, "nft"}.
	Command []string

	mu     sync.Mutex
	last   []netip.Addr
	calls  int
	closed bool
}

var _ Fence = (*NFTFence)(nil)

// nft runs the nft program with args, feeding it stdin, and returns its
// standard output; the error carries nft's first line of complaint.
func (f *NFTFence) nft(stdin string, args ...string) ([]byte, error) {
	argv := f.Command
	if len(argv) == 0 {
		argv = []string{"nft"}
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return nil, fmt.Errorf("the nft program (package nftables) is not installed: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), fenceTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("nft: %s", msg)
	}
	return out.Bytes(), nil
}

// Start implements Fence.Start: it makes the fence's table, with an
// empty set.
func (f *NFTFence) Start() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.nft(FenceScript(f.Table, f.Port, nil), "-f", "-"); err != nil {
		return fmt.Errorf("fast-path fence: %w", err)
	}
	f.last = []netip.Addr{}
	return nil
}

// Allow implements Fence.Allow. It runs nft when addrs differ from the
// last list, and every 20th call anyway, so that a set or table someone
// else changed is put back.
func (f *NFTFence) Allow(addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("fast-path fence: closed")
	}
	f.calls++
	if f.last != nil && slices.Equal(addrs, f.last) && f.calls%20 != 0 {
		return nil
	}
	if _, err := f.nft(FenceSetScript(f.Table, addrs), "-f", "-"); err != nil {
		// The table is gone: make it again (its counter starts anew).
		if _, err2 := f.nft(FenceScript(f.Table, f.Port, addrs), "-f", "-"); err2 != nil {
			f.last = nil
			return fmt.Errorf("fast-path fence: %w (and remaking the table: %v)", err, err2)
		}
	}
	f.last = slices.Clone(addrs)
	return nil
}

// Dropped implements Fence.Dropped.
func (f *NFTFence) Dropped() (uint64, error) {
	out, err := f.nft("", "-j", "list", "counter", "inet", f.Table, fenceCounter)
	if err != nil {
		return 0, fmt.Errorf("fast-path fence: %w", err)
	}
	return ParseFenceDrops(out)
}

// Close implements Fence.Close: it deletes the table.
func (f *NFTFence) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if _, err := f.nft(FenceDeleteScript(f.Table), "-f", "-"); err != nil {
		return fmt.Errorf("fast-path fence: %w", err)
	}
	return nil
}
