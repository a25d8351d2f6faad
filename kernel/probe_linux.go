package kernel

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/vishvananda/netlink"
)

// SystemProbes are the probes of the running kernel: the ovs_datapath
// generic netlink family for ovs, and creating (then deleting) a vxlan
// device for vxlan.
func SystemProbes() Probes {
	return Probes{OVS: probeOVS, VXLAN: probeVXLAN}
}

func probeOVS() error {
	if _, err := netlink.GenlFamilyGet("ovs_datapath"); err != nil {
		return fmt.Errorf("no ovs_datapath generic netlink family (openvswitch module not loaded?): %w", err)
	}
	return nil
}

func probeVXLAN() error {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "wsprobe" + hex.EncodeToString(b[:])
	vx := &netlink.Vxlan{LinkAttrs: netlink.LinkAttrs{Name: name}, VxlanId: 1, Port: 0, Learning: false}
	if err := netlink.LinkAdd(vx); err != nil {
		return fmt.Errorf("cannot create a vxlan device: %w", err)
	}
	if err := netlink.LinkDel(vx); err != nil {
		return fmt.Errorf("cannot delete probe vxlan device %s: %w", name, err)
	}
	return nil
}
