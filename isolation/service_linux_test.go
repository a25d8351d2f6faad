package isolation

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/internal/nstest"
)

// The Service's life: Start installs the bridge's tables, a port's rules
// go in and come out with its undo, a change nft refuses leaves the
// state as it was, allowed pairs are kept across a restart, and Close
// removes the tables and the state file.
func TestServiceLife(t *testing.T) {
	b := newBench(t)
	leakcheck.Check(t)
	dir := t.TempDir()
	cfg := ServiceConfig{Self: 0x020000000001, Bridge: "br0", Isolate: true, DataDir: dir, NFT: b.nft}
	tables := func() string { out, _ := nstest.Run(b.host, "nft", "list", "tables"); return out }
	s := NewService(cfg)
	if strings.Contains(tables(), TableName("br0")) {
		t.Fatal("NewService made a table")
	}
	ctx := context.Background()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tables(), TableName("br0")) {
		t.Fatalf("no table after Start: %s", tables())
	}
	pt := Port{Ifname: "vtest1", MAC: frame.MAC{2, 0, 0, 0, 0, 1}, Addrs: []netip.Addr{netip.MustParseAddr("10.40.1.5")},
		Subnets: []netip.Prefix{netip.MustParsePrefix("10.40.1.0/24")}}
	undo, err := s.SetPort(ctx, pt)
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := nstest.Run(b.host, "nft", "list", "table", "bridge", TableName("br0")); !strings.Contains(out, "in-vtest1") {
		t.Errorf("no chain for the port:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "host-side.json")); err != nil {
		t.Errorf("state not saved: %v", err)
	}
	// A port name nft cannot take: refused, nothing changes.
	if _, err := s.SetPort(ctx, Port{Ifname: "bad name", MAC: pt.MAC}); err == nil {
		t.Error("SetPort took a bad interface name")
	}
	if _, ok := s.ports["bad name"]; ok {
		t.Error("a refused port stayed in the state")
	}
	undo()
	if out, _ := nstest.Run(b.host, "nft", "list", "table", "bridge", TableName("br0")); strings.Contains(out, "in-vtest1") {
		t.Errorf("the port's chain outlived its undo:\n%s", out)
	}
	pair := api.PairRequest{A: netip.MustParsePrefix("10.40.1.0/24"), B: netip.MustParsePrefix("10.40.2.0/24")}
	if err := s.Allow(ctx, pair); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(false); len(st.Allowed) != 1 {
		t.Errorf("Status after Allow = %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if strings.Contains(tables(), TableName("br0")) {
		t.Errorf("table left after Close: %s", tables())
	}
	if _, err := os.Stat(filepath.Join(dir, "host-side.json")); err == nil {
		t.Error("state file left after a clean Close")
	}

	// The mesh's allowed pairs survive a restart; Deny withdraws one.
	s = NewService(cfg)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Status(false); len(st.Allowed) != 1 {
		t.Errorf("allowed pairs after a restart = %v", st.Allowed)
	}
	if r, err := s.Deny(ctx, pair); err != nil || !r.Removed {
		t.Errorf("Deny = %+v, %v", r, err)
	}
}
