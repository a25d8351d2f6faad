package ovs

import (
	"encoding/binary"
	"net/netip"

	"github.com/weaveworks/go-odp/odp"
)

// odpKeys returns the go-odp flow keys for k: exact matches on in_port,
// the Ethernet addresses and, for tunnel ingress, the tunnel id and
// outer IPv4 addresses; every other field is wildcarded by its absence
// from the mask.
func (k flowKey) odpKeys() odp.FlowKeys {
	fks := odp.MakeFlowKeys()
	fks.Add(odp.NewInPortFlowKey(odp.VportID(k.InPort)))
	eth := odp.NewEthernetFlowKey()
	if k.Group {
		eth.SetMaskedEthSrc([6]byte{}, [6]byte{}) // a new key's mask is exact
		eth.SetMaskedEthDst(groupBit, groupBit)
	} else {
		eth.SetEthSrc(k.Src)
		eth.SetEthDst(k.Dst)
	}
	fks.Add(eth)
	if k.Tunnel {
		var t odp.TunnelFlowKey
		t.SetTunnelId(tunnelID(k.TunID))
		if k.TunSrc.Is4() {
			t.SetIpv4Src(k.TunSrc.As4())
		}
		if k.TunDst.Is4() {
			t.SetIpv4Dst(k.TunDst.As4())
		}
		fks.Add(t)
	}
	return fks
}

// groupBit is the Ethernet group (multicast) bit, as an address and as
// a mask.
var groupBit = [6]byte{1}

// odpActions returns the go-odp actions for a; none drops.
func (a flowAction) odpActions() []odp.Action {
	if a.Drop {
		return nil
	}
	out := odp.NewOutputAction(odp.VportID(a.Output))
	if !a.Tunnel {
		return []odp.Action{out}
	}
	var st odp.SetTunnelAction
	st.SetTunnelId(tunnelID(a.TunID))
	if a.TunSrc.Is4() {
		st.SetIpv4Src(a.TunSrc.As4())
	}
	st.SetIpv4Dst(a.TunDst.As4())
	st.SetTtl(64)
	st.SetDf(true) // never fragment: a path too narrow for the overlay MTU must fail the heartbeat
	return []odp.Action{st, out}
}

// odpSpec returns the flow to install.
func odpSpec(k flowKey, a flowAction) odp.FlowSpec {
	f := odp.FlowSpec{FlowKeys: k.odpKeys()}
	f.AddActions(a.odpActions())
	return f
}

// keyFromODP recovers the flowKey of a dumped flow. It reports false for
// a flow this package would not have installed (no in_port or Ethernet
// key), which the caller deletes as foreign.
func keyFromODP(fks odp.FlowKeys) (flowKey, bool) {
	var k flowKey
	ip, ok := fks[odp.OVS_KEY_ATTR_IN_PORT].(odp.InPortFlowKey)
	if !ok || ip.Ignored() {
		return k, false
	}
	k.InPort = uint32(ip.VportID())
	eth, ok := fks[odp.OVS_KEY_ATTR_ETHERNET].(odp.EthernetFlowKey)
	if !ok {
		return k, false
	}
	e, m := eth.Key(), eth.Mask()
	if m.EthSrc == [6]byte{} && m.EthDst == groupBit && e.EthDst == groupBit {
		k.Group = true
		return k, true
	}
	k.Src, k.Dst = e.EthSrc, e.EthDst
	if t, ok := fks[odp.OVS_KEY_ATTR_TUNNEL].(odp.TunnelFlowKey); ok && !t.Ignored() {
		tk, tm := t.Key(), t.Mask()
		k.Tunnel = true
		k.TunID = binary.BigEndian.Uint64(tk.TunnelId[:])
		if tm.Ipv4Src != [4]byte{} {
			k.TunSrc = netip.AddrFrom4(tk.Ipv4Src)
		}
		if tm.Ipv4Dst != [4]byte{} {
			k.TunDst = netip.AddrFrom4(tk.Ipv4Dst)
		}
	}
	return k, true
}

func tunnelID(vni uint64) (id [8]byte) {
	binary.BigEndian.PutUint64(id[:], vni)
	return id
}
