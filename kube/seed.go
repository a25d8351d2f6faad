package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// listRetry is the pause between two attempts of Seeds to list the nodes.
var listRetry = time.Second

// PeerNameOf is the peer name of the router on the node named node: a
// locally administered unicast MAC derived from "weave-switch/" and the
// node's name alone, so that it survives restarts and reinstalls of the
// router and every router can work out every other's.
func PeerNameOf(node string) frame.PeerName {
	return frame.PeerNameFromSeed([]byte("weave-switch/" + node))
}

// Seeding is what the cluster's node list says about the allocation
// ring: the router of the oldest node seeds it alone, and every other
// router waits for it from its peers.
type Seeding struct {
	// Node is this router's node, and Self its router's peer name
	// (PeerNameOf(Node)).
	Node string
	Self frame.PeerName
	// Oldest is the oldest node (by creation time, then name), whose
	// router seeds the ring; Seeds is the one seed, PeerNameOf(Oldest).
	Oldest string
	Seeds  []frame.PeerName
	// Nodes is how many nodes the list held.
	Nodes int
}

// Seeds lists the cluster's nodes once, retrying until ctx ends while
// the API server does not answer, and says how the ring is seeded. It
// fails if node is not in the list (a wrong NODE_NAME or
// --kube-node-name).
func Seeds(ctx context.Context, client *Client, node string) (Seeding, error) {
	if node == "" {
		return Seeding{}, errors.New("kube: no node name (set NODE_NAME from the downward API, or --kube-node-name)")
	}
	var nodes []Node
	var last error // the API server's last answer, not the end of ctx
	for {
		list, err := client.ListNodes(ctx)
		if err == nil {
			nodes = list.Items
			break
		}
		if ctx.Err() == nil || last == nil {
			last = err
		}
		t := time.NewTimer(listRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return Seeding{}, fmt.Errorf("kube: list nodes: %w (%w)", last, context.Cause(ctx))
		case <-t.C:
		}
	}
	return seeding(nodes, node)
}

// seeding picks the oldest of nodes and checks that node is among them.
func seeding(nodes []Node, node string) (Seeding, error) {
	var oldest *Node
	found := false
	for i := range nodes {
		n := &nodes[i]
		if n.Name == node {
			found = true
		}
		if oldest == nil || older(n, oldest) {
			oldest = n
		}
	}
	if !found {
		names := make([]string, 0, len(nodes))
		for _, n := range nodes {
			names = append(names, n.Name)
		}
		return Seeding{}, fmt.Errorf("kube: node %q is not in the cluster's node list (%s): set NODE_NAME from the downward API (spec.nodeName), or --kube-node-name",
			node, strings.Join(names, ", "))
	}
	return Seeding{Node: node, Self: PeerNameOf(node), Oldest: oldest.Name,
		Seeds: []frame.PeerName{PeerNameOf(oldest.Name)}, Nodes: len(nodes)}, nil
}

// older orders nodes by creation time, then name.
func older(a, b *Node) bool {
	ta, tb := a.CreationTimestamp, b.CreationTimestamp
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Name < b.Name
}

// Alloc is the allocator's configuration (alloc.Config's Seeds, Yield
// and Await) for this router, named self. The oldest node's router seeds
// the ring alone. It yields, so that a router that lost its data gives
// its unused ring up for the cluster's, and, when other nodes exist, it
// allocates only once it has heard from one of them, so that it never
// hands out space of a ring they already divided. Every other router
// gets no seed: it builds no ring and waits for one from its peers,
// whatever its seeds were, so a router whose node joins after the
// seeding node was deleted still joins the cluster's ring.
func (s Seeding) Alloc(self frame.PeerName) (seeds []frame.PeerName, yield, await bool) {
	if s.Node != s.Oldest {
		return nil, false, false
	}
	return []frame.PeerName{self}, true, s.Nodes > 1
}
