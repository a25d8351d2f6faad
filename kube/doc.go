// Package kube is the Kubernetes mode of the router (`weave-switch up
// --kube`): it takes the mesh's peers from the cluster's node list and
// reclaims the address space of nodes deleted from the cluster.
//
// # What it does
//
// A Service lists the Node objects and then watches their changes (the
// pod's service account unless a Client is given). Every node other than this one
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
// The work is level-triggered: the watch's events only update the cache
// of nodes and wake one goroutine (routineReconcile), which compares the
// nodes in the cache with the peers it has connected and acts on the
// difference, so a coalesced event loses nothing. A watch that ends is
// resumed from the last resource version seen; when the server no
// longer has it, the list is read again whole, and nodes missing from it
// count as deleted. Nodes deleted
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
// node watch and routineReconcile, and returns without waiting for the
// API server: the watch keeps trying while it is unreachable, pausing
// from one second to thirty between attempts. Close stops
// both and waits for them; it is idempotent and leaves the mesh's
// targets as they are (the mesh itself is closed after).
//
// # The client
//
// Client speaks to the API server over HTTPS with the service account's
// token (read again every minute, as the kubelet rotates it) and decodes
// only what the router reads of a Node: name, creation and deletion
// times, resource version and addresses. The cluster's other types, and
// the rest of each Node (its images, conditions...), are never built, so
// the router carries no Kubernetes client library and spends no memory
// on objects it does not read. Lists are read in pages; watch events are
// bounded in size, and anything that is not a watch event ends the watch
// with an error (it is then resumed).
//
// The mesh and the allocator are reached through the interfaces Mesh and
// IPAM, defined here for what this package needs of them.
package kube
