package kube

import (
	"errors"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// Node is the part of a Kubernetes Node object the router reads: its
// name, age, deletion and addresses. The decoder skips the rest.
type Node struct {
	ObjectMeta `json:"metadata"`
	Status     NodeStatus `json:"status"`
}

// ObjectMeta is the part of an object's metadata the router reads.
type ObjectMeta struct {
	Name              string     `json:"name"`
	UID               string     `json:"uid,omitempty"`
	ResourceVersion   string     `json:"resourceVersion,omitempty"`
	CreationTimestamp time.Time  `json:"creationTimestamp"`
	DeletionTimestamp *time.Time `json:"deletionTimestamp,omitempty"`
}

// NodeStatus holds a node's addresses.
type NodeStatus struct {
	Addresses []NodeAddr `json:"addresses,omitempty"`
}

// NodeAddr is one address of a node, of a type such as InternalIP.
type NodeAddr struct {
	Type    string `json:"type"`
	Address string `json:"address"`
}

// The address types the router dials.
const (
	InternalIP = "InternalIP"
	ExternalIP = "ExternalIP"
)

// maxNameLen is the longest node name Kubernetes accepts (a DNS
// subdomain).
const maxNameLen = 253

// check refuses a node the API server would never send.
func (n *Node) check() error {
	if n.Name == "" {
		return errors.New("node without a name")
	}
	if len(n.Name) > maxNameLen {
		return errors.New("node name over 253 bytes")
	}
	return nil
}

// NodeAddress is the address the router dials to reach node n's router:
// the first InternalIP, else the first ExternalIP, preferring IPv4 within
// each kind. It reports false when the node has no usable address yet.
func NodeAddress(n *Node) (netip.Addr, bool) {
	for _, kind := range []string{InternalIP, ExternalIP} {
		var v6 netip.Addr
		for _, a := range n.Status.Addresses {
			if a.Type != kind {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil || ip.Zone() != "" || !ip.IsGlobalUnicast() && !ip.IsLoopback() {
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
