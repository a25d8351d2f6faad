package api

import "net/netip"

// IPAMStatus is the address allocator's state (`status ipam`).
type IPAMStatus struct {
	Range         string           `json:"range"`
	DefaultSubnet string           `json:"default_subnet"`
	State         string           `json:"state"` // "ready" or what it waits for
	Seeds         []string         `json:"seeds"`
	Peers         []IPAMPeer       `json:"peers"`
	Allocations   []IPAMAllocation `json:"allocations"`
	Wants         []string         `json:"wants,omitempty"` // subnets this router asked peers for space in
	Error         string           `json:"error,omitempty"` // the latest allocator state refused from a peer
}

// IPAMPeer is one peer's share of the range.
type IPAMPeer struct {
	Name       string   `json:"name"`
	Nickname   string   `json:"nickname,omitempty"`
	Self       bool     `json:"self"`
	Reachable  bool     `json:"reachable"`
	Removed    bool     `json:"removed"`
	Ranges     []string `json:"ranges"` // "first-last"
	Addresses  uint64   `json:"addresses"`
	Free       uint64   `json:"free"`
	Wants      []string `json:"wants,omitempty"`
	Reclaiming []string `json:"reclaiming,omitempty"`
}

// IPAMAllocation is a container's addresses, by its key (the namespace).
type IPAMAllocation struct {
	Key   string       `json:"key"`
	Addrs []netip.Addr `json:"addrs"`
}

// RmPeerRequest asks to reclaim the address space of dead peers.
type RmPeerRequest struct {
	Names []string `json:"names"` // peer names or nicknames
}

// RmPeerResponse says how many addresses were reclaimed.
type RmPeerResponse struct {
	Reclaimed int `json:"reclaimed"`
}
