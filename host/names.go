package host

import (
	"net"

	"github.com/weave-switch/weave-switch/frame"
)

// TAPName is the name of the router's TAP port on bridge: the bridge's
// name and "-tap", cut to the 15 characters an interface name may have.
func TAPName(bridge string) string {
	const suffix = "-tap"
	if len(bridge)+len(suffix) > 15 {
		bridge = bridge[:15-len(suffix)]
	}
	return bridge + suffix
}

// BridgeMAC is the MAC of the weave bridge of the router named self:
// derived from the peer name, unicast and locally administered, and not
// the peer name itself.
func BridgeMAC(self frame.PeerName) net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	self.Put(mac)
	mac[0] = mac[0]&0xfe | 0x02
	mac[5] ^= 0x01
	return mac
}

// VethPrefix begins the name of every bridge-side veth the router makes
// for a container (HostVethName).
const VethPrefix = "vws"

// EndpointVethPrefix and EndpointPeerPrefix begin the names of the two
// ends of a veth made for a container runtime's endpoint (the Docker
// plugin's): the bridge side, and the side the runtime moves into the
// container.
const (
	EndpointVethPrefix = "vwph"
	EndpointPeerPrefix = "vwpc"
)
