// Package isolation keeps the applications that share one weave network
// apart, and owns the router's nftables rules for its bridge: the
// isolation filter and the NAT of expose, publish and import.
//
// # Model
//
// Every container port (the host side of its veth) has a MAC, its
// addresses and its application subnets. Weave Net isolated applications
// only by routing (no route between subnets on one shared L2 segment), so
// a container that added an address of another subnet, or sent raw
// frames, reached everyone. Here the bridge enforces it in two places:
//
//   - Anti-spoofing where a frame enters the bridge from a container: the
//     source MAC must be the port's, IPv4/IPv6 and ARP must carry one of
//     the port's addresses, and nothing but IPv4, ARP and IPv6 (and IPv6
//     from link-local sources only as neighbour discovery/MLD) gets in.
//   - The subnet rule where a frame leaves the bridge to a container: IP
//     and ARP must come from one of the container's subnets, or from a
//     subnet joined to one of them by an allowed Pair.
//
// Frames from other hosts reach the bridge through the router's TAP; the
// rule on delivery applies to them as to local ones, and their sources
// were checked by the anti-spoofing of their own host, so isolation holds
// across hosts. The host itself (its exposed addresses) is trusted as a
// source but is subject to the subnet rule like anyone else.
//
// # Why nftables, and why the nft program
//
// Frames between two containers on one host are bridged by the kernel and
// never reach the router's switch core, so the switch core cannot enforce
// anything for them; the bridge's own netfilter hooks see every frame,
// local or from the TAP. The rules are written in the nft language and
// applied with `nft -f -`, one transaction per change: the Ruleset is a
// pure value rendered to text (unit-tested as text, readable as the user
// sees it with `nft list table bridge weave-switch-BRIDGE`), nft checks
// the protocol dependencies of every match (ARP and ICMPv6 fields), and
// each change replaces the tables atomically, so a crashed router's stale
// rules are replaced on the next start and the data path never sees a
// half-built policy. The cost is a dependency on the nft program
// (Debian's nftables package) and a fork per attach or detach (a few
// milliseconds); Check reports a missing nft or kernel support clearly.
//
// # Layout of the tables
//
//	table bridge weave-switch-BRIDGE
//	  chain in-PORT, out-PORT      per port (see writeFilterTable)
//	  chain forward                iifname vmap -> in-PORT, unknown port -> drop,
//	                               oifname vmap -> out-PORT
//	  chain input                  iifname vmap -> in-PORT, unknown port -> drop
//	                               (frames to the host)
//	  chain output                 oifname vmap -> out-PORT (frames from the host)
//	table ip weave-switch-BRIDGE   (only while there is NAT to do)
//	  chain mark-replies           ReplyMark on replies of masqueraded connections
//	  chain prerouting, output     DNAT of published and imported services
//	  chain postrouting            masquerading
//
// An unknown port is one Start finds on the bridge that is neither the
// router's own (its TAP, the fast path's ports: ServiceConfig.Trusted)
// nor a container port: a veth left by a run whose state was lost, or
// plugged in by someone else. Its frames are dropped where they enter
// (fail closed) until it is attached; Start logs the unknown ports it
// finds. The rule names the ports it drops: a bridge-family hook sees the
// frames of every bridge on the host, and this kernel interface has no
// portable match for the bridge a frame is on.
//
// A port's chains are found through verdict maps keyed by interface name,
// so a frame costs one map lookup and a handful of rules whatever the
// number of containers.
//
// # Allowed pairs across the mesh
//
// A pair is enforced where the receiving container lives, so every router
// must know it. AllowSet is the mesh-wide set: a last-writer-wins map from
// pair to allowed/denied with Lamport clocks (ties broken by router name),
// gossiped whole on mesh channel AllowChannelID, bounded to
// MaxAllowEntries; denied pairs stay as tombstones so that a stale
// "allowed" cannot come back, until they expire (AllowSet.TombstoneTTL,
// default 1 hour) so that they cannot fill the set for good. Clocks far
// ahead of ours are refused and the clock saturates instead of wrapping.
//
// The package does no I/O except through a Runner. Values are immutable
// once built; callers build a new Ruleset for every change.
package isolation
