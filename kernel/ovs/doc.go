// Package ovs is the kernel fast path on the Open vSwitch kernel datapath
// (ODP), driven over generic netlink the way Weave Net's fastdp drove it,
// with three differences: invalidation is selective, flows expire by
// their own idleness, and the backend sits beside the Linux bridge rather
// than replacing it.
//
// # Topology (bridged)
//
//	container veths ─┐
//	router TAP ──────┤ bridge "weave" ── <br>-dpb ═veth═ <br>-dpo ── datapath <br>-dp ── vxlan vport <br>-dpvx (UDP 6785)
//
// <br>-dpb is a bridge port with learning and all flooding (unknown
// unicast, multicast, broadcast) off: the bridge sends it only frames
// whose destination has a static FDB entry pointing at it, which Update
// installs for every MAC offloaded to a LinkUp peer and for the heartbeat
// MAC of every LinkProbe or LinkUp peer (kernel/vxlan.Desired computes
// the set; it is the same for both backends). This router's own
// heartbeat MAC gets a static entry on the TAP. Broadcast and unknown
// unicast therefore stay on the userspace path and nothing is delivered
// twice.
//
// # Misses and flows
//
// No flow is installed up front. A frame that matches no flow is sent up
// by the kernel (OVS_PACKET_CMD_MISS) to the backend's own upcall socket;
// routineMisses asks kernel.Env.Decider where it goes and installs one
// flow per direction and MAC pair:
//
//	from the bridge:  in_port(dpo),eth(src=A,dst=B)
//	                  → set(tunnel(id=VNI,dst=peer,ttl=64,df)),output(vxlan)
//	from a peer:      in_port(vxlan),tunnel(id=VNI,src=peer,dst=us),eth(src=B,dst=A)
//	                  → output(dpo)
//
// then executes the missed frame with the same actions. A frame the
// Decider leaves to userspace installs nothing and is dropped (the
// userspace path carries that traffic); so are frames from tunnel
// addresses that are no LinkProbe or LinkUp peer, with another VNI, or
// that would be relayed.
//
// # Invalidation and expiry
//
// Every flow is indexed under its source MAC, its destination MAC and the
// peer it depends on. Update diffs the new View against the last: a MAC
// that moved or was forgotten removes the flows it appears in, a link
// that is gone, off, re-addressed or worse than before removes the flows
// of that peer; nothing else is touched (Weave flushed every flow). A
// generation counter, bumped by every Update that removes flows, keeps a
// decision taken before the Update from being installed after it.
// routineSweep dumps the flows every SweepInterval, notes which carried
// packets, and deletes those idle for IdleTimeout, and any flow it does
// not know.
//
// # Health
//
// The router's heartbeats to HeartbeatMAC(p) enter the datapath through
// the bridge entry, miss, and get a tunnel flow like any other MAC; at p
// they miss on the vxlan vport and are delivered to p's TAP. The flows
// carry DF, so a path that cannot carry the overlay MTU plus 50 bytes
// never answers and the link never comes up.
//
// # Sockets
//
// go-odp (pinned) does the datapath, vport and flow commands on one
// socket guarded by a mutex. Upcalls come to a socket of this package
// (genlConn) that the netpoller drives, so Close unblocks its reader;
// go-odp's blocking sockets cannot be woken. The same socket type reads
// the datapath's counters (OVS_DP_ATTR_STATS) and points the vports'
// upcalls at us (OVS_VPORT_CMD_SET). Execute goes out on a go-odp socket
// of its own, because go-odp never reads the error a failed Execute
// leaves behind.
//
// Everything is created in the network namespace of the thread that calls
// New, and stays there: the sockets keep that namespace.
package ovs
