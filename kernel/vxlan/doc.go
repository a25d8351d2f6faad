// Package vxlan is the kernel fast path on a plain Linux vxlan device, for
// kernels without the Open vSwitch datapath.
//
// New creates the vxlan device <bridge>-vx (VNI kernel.DefaultVNI, UDP port
// kernel.DefaultPort unless configured, MTU the overlay's, learning off,
// no default remote) and makes it a port of the bridge with bridge learning
// and unknown-unicast flooding off. So the only frames the bridge sends
// into it are those to MACs with a static FDB entry on it; broadcast and
// multicast reach it too but are dropped by the vxlan driver (no all-zero
// entry), since the router's TAP floods them over the userspace path.
//
// Update computes Spec(view): for every peer whose link is LinkProbe or
// LinkUp, the peer's heartbeat MAC; for every MAC offloaded to a LinkUp
// peer, the MAC. Each becomes a pair of entries, the equivalent of
//
//	bridge fdb replace MAC dev weave-vx dst PEER-IP self permanent  # vxlan: where to tunnel
//	bridge fdb replace MAC dev weave-vx master static sticky        # bridge: send it to the vxlan port
//
// plus one entry for this router's own heartbeat MAC on its TAP
// (master static), so heartbeats arriving over vxlan reach the router.
// The applier lists what the kernel has on the vxlan port, removes what
// the Spec no longer has (bridge entry first, then the vxlan entry, so the
// bridge never points at a MAC the vxlan device cannot deliver) and adds
// what is missing (vxlan entry first). Bridge entries are sticky so that a
// remote MAC seen again on the TAP (its broadcasts still come over the
// userspace path) does not roam off the vxlan port. Close deletes the
// device, which removes every entry with it, and the TAP entry.
package vxlan
