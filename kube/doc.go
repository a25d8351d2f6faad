// Package kube is the Kubernetes mode of the router (`weave-switch up
// --kube`): it takes the mesh's peers from the cluster's node list and
// reclaims the address space of nodes deleted from the cluster.
//
// # What it does
//
// A Service watches the Node objects with a client-go informer (in-cluster
// configuration unless a client is given). Every node other than this one
// (Config.NodeName) is a peer: the router connects to its address (the
// first InternalIP, else ExternalIP, IPv4 before IPv6) on the control
// port. A node whose address changes is forgotten at the old address and
// connected at the new one. A node deleted from the cluster is forgotten,
// and the address space of its router is handed back with rmpeer once
// the mesh sees that router dead: every router is named after its node
// (--nickname NODE_NAME), so the routers to remove are the peers whose
// nickname is the node's name. A live one is left alone and looked at
// again every Config.RetryInterval; a node that comes back before then is
// no longer removed. A deleted node whose name no peer carries has no
// space to reclaim.
//
// The work is level-triggered: the informer's events only wake one
// goroutine (routineReconcile), which compares the nodes in the
// informer's cache with the peers it has connected and acts on the
// difference, so a missed or coalesced event loses nothing. Nodes deleted
// while the router was not running are not seen: their space is left to
// a manual `weave-switch rmpeer`.
//
// # Seeding the allocation ring
//
// Before the allocator is built, Seeds lists the nodes once and says how
// this router's ring is seeded (Seeding.Alloc): every router's peer name
// is derived from its node's name (PeerNameOf), the router of the oldest
// node (by creation time, then name) seeds the ring alone, and every
// other router builds none and waits for it from its peers. A waiting
// router takes whatever ring reaches it, so a router whose node joins
// after the seeding node was deleted still joins the cluster's ring; the
// seeding router yields its ring while unused and, when other nodes
// exist, allocates only once it has heard from one of them, so that one
// whose data was wiped gives way to the ring the others hold.
//
// # Life
//
// New validates and stores the configuration and does no I/O. Start
// builds the client (reading the in-cluster configuration), starts the
// informer and routineReconcile, and returns without waiting for the API
// server: the informer keeps trying while it is unreachable. Close stops
// both and waits for them; it is idempotent and leaves the mesh's
// targets as they are (the mesh itself is closed after).
//
// The mesh and the allocator are reached through the interfaces Mesh and
// IPAM, defined here for what this package needs of them.
package kube
