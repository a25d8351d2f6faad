package kube

import (
	"net"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// NodeAddress is the address the router dials to reach node n's router:
// the first InternalIP, else the first ExternalIP, preferring IPv4 within
// each kind. It reports false when the node has no usable address yet.
func NodeAddress(n *corev1.Node) (netip.Addr, bool) {
	for _, kind := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		var v6 netip.Addr
		for _, a := range n.Status.Addresses {
			if a.Type != kind {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil || !ip.IsGlobalUnicast() && !ip.IsLoopback() {
				continue
			}
			ip = ip.Unmap()
			if ip.Is4() {
				return ip, true
			}
			if !v6.IsValid() {
				v6 = ip
			}
		}
		if v6.IsValid() {
			return v6, true
		}
	}
	return netip.Addr{}, false
}

// target is the mesh target for address a on the control port.
func target(a netip.Addr, port uint16) string {
	return net.JoinHostPort(a.String(), strconv.Itoa(int(port)))
}
