// Package kernel is the kernel fast path: once a link to a peer is healthy,
// frames between a local MAC and a MAC on that peer are carried by the
// kernel (a vxlan device, or the Open vSwitch datapath) and no longer cross
// the router's userspace. The router stays in charge: it decides, the
// kernel caches its decisions.
//
// # Topology
//
// The Linux bridge stays. The fast-path device is one more bridge port: the
// vxlan device itself for the vxlan backend, a veth pair into the ODP
// datapath for the ovs backend (Weave's "bridged fastdp"). A remote MAC that
// is offloaded gets a static bridge FDB entry pointing at that port, so the
// bridge sends unicast to it straight into the kernel path. Broadcast,
// multicast and unknown unicast are never offloaded: the bridge floods them
// to the router's TAP as before, the router floods them over the userspace
// transports, and nothing is delivered twice: a router that receives a
// flooded unicast frame for a MAC its switch places on another peer passes
// the flood on without writing the frame into its bridge, whose fast-path
// entry for that MAC would send the peer a second copy. Frames that arrive
// over the fast path enter the bridge from the fast-path port; the bridge
// delivers them by its own (local) learning.
//
// # The contract between the router and a backend
//
// The router (through a Controller) tells a backend everything with one
// call, Datapath.Update(view), where a View is an immutable snapshot of:
//
//   - Links: for every direct neighbour p, its underlay address and a
//     LinkState. LinkOff: the fast path must not be used towards p
//     (encrypted link, no direct underlay address, relayed). LinkProbe: only
//     the heartbeat MAC of p goes over the fast path (so the router can
//     find out whether the path works). LinkUp: heartbeats answered;
//     every MAC that lives on p is offloaded.
//   - MACs: which peer each MAC lives on (Self for local MACs), as the
//     router's switch learned it from userspace traffic.
//
// A MAC that moved to another peer, a MAC the switch forgot (aged out,
// evicted, peer removed) and a link that left LinkUp are all just
// differences between two Views: Diff computes them, and the backend must
// remove exactly the kernel state they invalidate (entries, flows) before
// Update returns, and nothing else. A backend never installs state for a
// peer that is not LinkUp, except heartbeat state for LinkProbe and LinkUp
// peers. Update is called from one goroutine; a backend keeps the last View
// it applied. Close removes everything the backend created, so nothing
// stale survives a shutdown; New removes leftovers of a previous run with
// the same names.
//
// The recommended shape of a backend is a pure function from (View, Env) to
// a desired kernel state (a Spec), unit-tested without syscalls, and an
// applier that reads the kernel's actual state, diffs it against the Spec
// and adds or removes only the difference. Re-applying the same View is a
// no-op; an entry someone else deleted is put back at the next Update.
//
// The switch learns only from frames that cross userspace, and the traffic
// a backend carries never does; a backend that can tell when the kernel
// last used each entry implements UsageReporter, and the router refreshes
// those MACs in its switch so that they do not age out while in use.
//
// # Misses
//
// A backend that learns of traffic lazily (ovs: a miss upcall for a frame
// that matches no flow) asks the router what to do with the frame through
// Env.Decider, which answers from the same View and the switch: deliver
// locally, send to peer p at address a (install a flow), or leave it to
// userspace (no flow: the link is not up, the MAC is unknown, the frame is
// broadcast). Flows must be keyed so that the MAC moves and link changes in
// Diff select exactly the flows to remove. Misses and installed/removed
// entries are counted in Stats.
//
// # Health
//
// The router checks every link's fast path with heartbeats that cross the
// kernel path itself: it writes a frame of full overlay MTU into its TAP
// addressed to HeartbeatMAC(p); the backend carries HeartbeatMAC(p) to p for
// LinkProbe and LinkUp peers and delivers HeartbeatMAC(Self) arriving over
// the fast path to the router's TAP (a static FDB entry on the TAP). The
// receiver answers over the userspace transport. A link whose heartbeats
// stop answering leaves LinkUp within Controller's DownAfter, its entries
// are withdrawn and its traffic continues over the userspace transport; a
// later answer puts it back in LinkUp. Because the heartbeats are full-MTU,
// a path that cannot carry the overlay MTU plus the encapsulation never
// comes up.
//
// # The fence
//
// A kernel backend decapsulates whatever reaches its UDP port, and the
// vxlan header carries nothing to authenticate, so the port is fenced: a
// Fence (NFTFence: table inet weave-switch-BRIDGE, see FenceScript) lets
// only the underlay addresses of the links that are not LinkOff send to
// it and drops and counts every other datagram. The Service puts the
// fence up, with no address allowed, before it builds the backend, the
// Controller sets its addresses from every View before the backend's
// Update, and Close takes it down after the backend's Close.
//
// # Selection
//
// Select picks a backend for --datapath auto|userspace|vxlan|ovs: auto is
// ovs where the "ovs_datapath" generic netlink family exists, else vxlan
// where a vxlan device can be created, else userspace (NullDatapath). The
// choice and its reason are logged and shown in status. No backend
// encrypts: with a password, auto stays in userspace, and vxlan or ovs
// must come with --fastpath-unencrypted (ServiceConfig.Unencrypted), which
// lets encrypted links onto the kernel path unencrypted and is shown in
// status.
package kernel
