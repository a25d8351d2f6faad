package ovs

import (
	"net/netip"
	"testing"

	"github.com/weaveworks/go-odp/odp"
)

// The keys a flow is installed with are the keys a dump gives back, so a
// dumped flow is found in the table.
func TestODPKeysRoundTrip(t *testing.T) {
	for _, k := range []flowKey{
		{InPort: 1, Src: macX, Dst: macY},
		{InPort: 1, Group: true},
		{InPort: 2, Src: macY, Dst: macX, Tunnel: true, TunID: 0x7773,
			TunSrc: netip.MustParseAddr("198.51.100.2"), TunDst: netip.MustParseAddr("198.51.100.1")},
	} {
		got, ok := keyFromODP(k.odpKeys())
		if !ok || got != k {
			t.Errorf("keyFromODP(%v.odpKeys()) = %v, %v", k, got, ok)
		}
	}
	if _, ok := keyFromODP(odp.MakeFlowKeys()); ok {
		t.Error("a flow without in_port is ours")
	}
}

func TestODPActions(t *testing.T) {
	if d := (flowAction{Drop: true}).odpActions(); len(d) != 0 {
		t.Errorf("drop actions = %v, want none", d)
	}
	local := flowAction{Output: 1}.odpActions()
	if len(local) != 1 || local[0].(odp.OutputAction).VportID() != 1 {
		t.Errorf("local actions = %v", local)
	}
	a := flowAction{Output: 2, Tunnel: true, TunID: 0x7773, TunDst: netip.MustParseAddr("198.51.100.2")}
	acts := a.odpActions()
	if len(acts) != 2 {
		t.Fatalf("tunnel actions = %v", acts)
	}
	st, ok := acts[0].(odp.SetTunnelAction)
	if !ok || st.Ipv4Dst != [4]byte{198, 51, 100, 2} || !st.Present.Ipv4Dst || st.Present.Ipv4Src ||
		st.TunnelId != tunnelID(0x7773) || st.Ttl != 64 || !st.Df {
		t.Errorf("set tunnel = %+v (the source is left to the kernel's route when not configured)", acts[0])
	}
	if acts[1].(odp.OutputAction).VportID() != 2 {
		t.Errorf("output = %v", acts[1])
	}
}
