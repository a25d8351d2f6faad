// Package alloc is IP address management without a central server: every
// router allocates container addresses from the ranges it owns, and the
// division of the range into owned ranges is a CRDT gossiped between the
// routers, in the line of Weave Net's ring allocator.
//
// # Data model
//
// The universe (--ipalloc-range, default 10.32.0.0/12) is a ring of
// tokens: Entry{Token, Owner, Version, Free}, a range running from its
// token to the next. Only the owner changes an entry, bumping Version, so
// the merge is a union of tokens where the higher version of each wins
// (equal versions are ordered by content, so every peer picks the same
// copy). Free is a hint for peers looking for space. Beside the ring the
// State holds one Member register per peer (its wants, and its part in
// reclaims; see below), ordered by (Epoch, Removed, Version). State is a
// state-based CRDT: the gossip layer sends the whole state (Encode) to
// neighbours on change, on connect and periodically, and Merge folds it
// in. The wire format is in codec.go; DecodeState validates everything
// and is fuzzed (FuzzDecodeState).
//
// # Initial ownership: seeds
//
// A ring exists only once agreed: its identity is the universe plus the
// seed peers it was created with, and states of different identities never
// merge (ErrDifferentRing, shown in status; the states stay apart, nothing
// mixes). Every peer given the same --ipalloc-seed list builds the same
// ring, the universe cut into equal shares in ascending name order,
// without talking to anyone: two halves of a split cluster started with
// the same seeds hold the same ring, and halves started with different
// seeds can never merge into a ring with two owners of one address. A
// router given no seeds and no --peer seeds itself alone (the first router
// of a cluster); a router with --peer and no seeds waits for the ring from
// its peers (ErrNoRing until then). So the user either starts one router
// first and points the others at it, or gives every router the same
// --ipalloc-seed list. A router that seeded itself alone by default
// (Config.Yield) gives its ring up for a peer's while nobody but itself is
// a member and it holds no address, so `up` alone and `connect` later just
// works (of two such lone rings, the one with the lower identity stays).
// Two rings that both hand out addresses never merge: reset one side's
// data directory.
// A peer that built a ring from several seeds allocates from it only once
// it has heard from another member (ErrFresh), so that a seed whose data
// was wiped cannot hand out space the ring gave away since; Config.Await
// asks the same of a ring with one seed (the Kubernetes mode's oldest
// node, whose router seeds the ring alone while the others wait for it).
//
// # Subnets
//
// An attachment asks for a subnet: the default subnet (the lower half of
// the universe, 10.32.0.0/13 by default), net:CIDR (any subnet inside the
// universe), or app:NAME, which maps the name deterministically to a /24
// in the upper half (FNV-1a of the name modulo the 2048 /24s of
// 10.40.0.0/13), so every peer maps an application to the same subnet
// without configuration. Two names can share a /24 by hash collision (a
// 1-in-2048 chance per pair); net:CIDR picks a subnet by hand. Network and
// broadcast addresses of the subnet are never handed out.
//
// # Allocation and space requests
//
// A peer allocates from its own ranges in the subnet. Without free space
// there, it adds the subnet to its register's Wants (ErrPending). The
// live member with the most free space in that subnet by the gossiped
// hints donates the largest free run it has there, at most half its free
// space (at least one address, at most MaxDonation); if it has not within
// a few ticks, any live member with space does. A donation splits the
// donor's range (at most two new tokens) and is persisted before it can
// be gossiped. When no peer has a free address in the subnet Allocate
// fails with an *ExhaustedError. A claim (an explicit address, or one a
// container had before a restart) records the address if we own it, or
// wants that single address (/32) from its owner.
//
// # Persistence
//
// With a Store (BoltStore: bbolt, ipam.db in the data directory) the
// state is written before any change of ours can be gossiped, and every
// allocation before Allocate returns. A restarted router continues with
// its ring, registers and every address; containers re-attached under
// the same key get the same address.
//
// A write the Store refuses is never ignored: an allocation or claim
// fails with ErrNotSaved and hands nothing out; a state that cannot be
// saved stops allocation and gossip (Encode returns nil) until Tick
// writes it; a release is written again at each Tick until it sticks. A
// damaged database (bbolt errors and panics alike) gives a
// *CorruptError naming the file and how to start again.
//
// # Reclaiming a dead peer's space (rmpeer)
//
// Weave's rmpeer let any host take a dead peer's ranges; run on two hosts
// at once, or while a transfer by the dead peer had not reached the
// host, it produced duplicate addresses. Here rmpeer is a proposal
// (Propose) that commits only when every other member agrees:
//
//  1. Refused at once when a named peer is this peer, unknown, already
//     removed, or alive (reachable over the mesh from here); when any
//     other member is unreachable (it must agree, see 3; if it is dead
//     too, name it in the same rmpeer); or when another peer is already
//     reclaiming one of the named peers.
//  2. The proposal carries a hash of the dead peers' entries (token,
//     version) as the proposer sees them. A member acks it only if its own
//     view hashes the same and none of the dead peers is reachable from it.
//     A member acks one proposal at a time (the proposer acks its own) and
//     keeps its ack while that proposal runs, dropping it if a dead peer
//     comes back.
//  3. The proposer commits when every active member other than the dead
//     has acked: the dead peers' ranges become the proposer's (version
//     bumped, all free) and their registers are marked Removed.
//
// Two concurrent reclaims of one peer cannot both commit: each needs the
// other proposer's ack, which it never gives while proposing (the higher
// name withdraws, and its ackers move on). A reclaim cannot miss an update
// of the dead peer's space that any member has seen: that member's hash
// differs and it does not ack. The proposer re-proposes when its view
// changes, withdraws when a dead peer comes back, and the API withdraws a
// proposal that did not commit within its timeout.
//
// What remains the operator's responsibility: rmpeer says the peer is gone
// for good. A router that is merely cut off alone behind a partition looks
// dead; if it comes back it learns it was removed, drops its ranges and
// allocations (logged as lost addresses) and rejoins without space, but the
// addresses its containers still use may meanwhile have been handed out
// again. A peer that joined and got space from the dead peer, and whose
// registration reached nobody else before the dead peer died, is unknown
// to the proposer and cannot object. The randomized simulation
// (TestSimulationNoDuplicates) checks that no address is ever held twice
// under partitions, restarts and rmpeer when these rules are followed.
//
// # Leaving the ring (down --leave, reset)
//
// A peer retiring for good needs no rmpeer: Leave gives every range it
// owns to one live member (the one owning the fewest addresses), with
// the version bumped and all of it free, and marks its own register
// Removed; both are changes only the owner may make, so peers merge them
// like any other. Service.Leave then waits until a state merged from a
// peer carries the Removed register, so the handover outlives the
// leaving router. It refuses when other members exist but none is
// alive. A peer that left allocates nothing more; started again on its
// data it rejoins as a new member (the next epoch) without space.
//
// # Counters
//
// Versions, epochs and sequence numbers are uint32 on the wire. They
// saturate instead of wrapping: a counter at its maximum stays there, and
// a change that needs a higher number (a free-count update, a donation,
// a reclaim of that range, a change of that register, a new proposal) is
// not made, since no copy of it could supersede the current one; a
// version that wrapped would instead sort below every older copy. Only a
// forged state gets there (2^32 changes of one range or register), and
// the range or register then stays frozen until the routers holding it
// start again from an empty address database.
//
// Merge does not refuse large version jumps. The state is a state-based
// CRDT whose merge keeps the newer copy of each token and register;
// refusing copies more than some step ahead of ours would make the
// result depend on the order states arrive in, and would keep a peer
// that missed many changes (a long partition, or a restart from an old
// ipam.db: free-count updates alone bump an owner's versions every tick
// its allocations change) from ever taking the owner's copy, leaving it
// with a view of ownership that disagrees with the owner's, which is how
// addresses get handed out twice. And any step small enough to matter
// against 32-bit counters (2^16, say) is one legitimate traffic can
// exceed, while a forged state merged 2^32/step times walks past it
// anyway. Forged states are kept out by authenticating the mesh.
//
// # Concurrency
//
// Allocator is pure logic and not safe for concurrent use; Service wraps
// it for a router: a mutex, a ticker, blocking Allocate and RmPeer with a
// context, and the gossip channel the mesh carries.
package alloc
