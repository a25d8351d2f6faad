// Package router joins the pieces of one host's data path: the local
// Device (the TAP port on the bridge), the learning switch core and a
// Transport to the other peers.
//
// Goroutines, all started by Start and counted in one WaitGroup:
//
//   - routineReadDevice: reads batches of frames from the Device, asks the
//     switch where each goes, and sends them, grouped per peer, one
//     Transport.Send per peer per batch.
//   - routineReceive (one per Transport ReceiveFunc): reads batches from
//     the overlay, lets the switch learn from the originating peer, writes
//     frames for this host to the Device and relays frames addressed to
//     other peers.
//   - routineHousekeeping: ages the MAC table.
//
// No goroutine, channel send or allocation happens per frame: each routine
// owns its batch and scratch space, allocated once. Peers are looked up in
// an immutable snapshot swapped through an atomic pointer.
//
// The control plane (package gossip/mesh) tells the router its neighbours
// (SetPeers: name, data endpoint, transport) and the routes (SetRoutes:
// next hops and per-source broadcast trees), in the types of package link,
// which both share; frames from anyone else are dropped and counted.
//
// What the receive path lets in. A received frame or heartbeat speaks for
// the neighbour its overlay header names as the previous hop (Meta.Via)
// only if it came on that neighbour's link transport from the endpoint the
// control plane registered for it there, or the one the neighbour proved
// it moved to behind NAT (peer.admits, learn.go): names are public, so a
// name alone proves nothing. Others are dropped and counted
// (unknown_sender when no neighbour has the name, wrong_source when one
// has). A frame with an offload descriptor (Meta.GSO) is handed on only if
// frame.CheckGSO accepts the descriptor for that frame (else bad_gso): the
// Device writes it to the kernel as a virtio_net_hdr.
//
// The rest of the host reaches the switch core's MAC table only through
// the router's MAC methods (ClaimMAC, ForgetMAC, TouchMAC, MACGeneration,
// MACTable, SwitchStats), never the switch itself.
package router
