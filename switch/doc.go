// Package ethswitch is the learning Ethernet switch at the core of the
// weave-switch data path. It is pure logic with no I/O: for each frame of a
// batch it decides where the frame goes (Drop, Local, Peer, Flood,
// LocalAndFlood) and maintains the MAC table that makes that decision
// possible. The router owns the TAP device and the transports; it calls
// FromLocal for frames captured from the local bridge and FromPeer for
// frames received from the overlay, then acts on the Decisions.
//
// # Learning
//
// Every MAC is owned by exactly one peer. Frames captured locally teach
// "src MAC is on Self". Frames from the overlay teach "src MAC is on
// Meta.Src", the peer that captured the frame, never Meta.Via, the
// underlay neighbour that relayed it, so multi-hop and relayed frames teach
// the right thing. Learning from the overlay is forced: a MAC that appears
// behind another peer moves at once (container mobility) and counts as a
// move. Learning from the local bridge is not forced: a locally captured
// frame whose source MAC belongs to a remote peer that was heard from
// within Config.EchoWindow is almost certainly a frame this router injected
// and the bridge echoed back, so it is dropped and the entry stays where it
// is (Weave Net does the same). Once the remote owner has been silent for
// EchoWindow, the MAC moves to Self, so a container that migrated here is
// blackholed for at most about EchoWindow.
//
// Frames relayed through this peer (Meta.Dst is another peer) teach
// nothing: the destination peer learns from them.
//
// # Timestamps and aging
//
// Each entry records when its MAC was last seen as a source. The record is
// refreshed at most once per refresh interval, min(MaxAge/10,
// EchoWindow/2), with an atomic compare-and-swap under the read lock, so
// steady traffic never takes the write lock. Expire removes entries whose
// record is older than MaxAge; because of the refresh interval, a MAC idle
// for slightly less than MaxAge (by at most one refresh interval) may
// already be gone. The router calls Expire periodically, typically every
// MaxAge/10.
//
// # Bound and eviction
//
// The table holds at most Config.MaxEntries MACs, in a slab and an
// open-addressing index that start with room for 256 MACs and double when
// full, up to that bound; nothing grows beyond it, so a flood of random
// source MACs, local or remote, cannot grow memory past it, and a switch
// of a few containers keeps a small table. The index is hashed with a random per-Switch seed
// (hash/maphash), so an attacker cannot choose MACs that collide.
//
// When a new MAC arrives and the table is full, one entry is evicted with a
// two-list CLOCK (a simplified 2Q), which approximates least-recently-seen:
//
//   - A new entry enters the probation list. Every later frame from the
//     same MAC sets the entry's referenced bit (an atomic, no write lock).
//   - To make room, the switch looks at the head of the probation list. A
//     referenced entry gets a second chance: its bit is cleared and it is
//     promoted to the tail of the established list. An unreferenced one,
//     a MAC seen only once since it was learned, is evicted.
//   - Only when the probation list is empty does the same second-chance
//     scan run over the established list, evicting the first entry not
//     seen since the hand last passed it.
//   - At most 64 second chances are given per insertion; the next
//     candidate is then evicted regardless, so insertion is O(1) worst
//     case.
//
// Stale entries are evicted first: an entry idle since the hand last
// passed is unreferenced. A flood of one-frame random source MACs only
// ever churns the probation list, so it evicts its own earlier MACs and
// never the established MACs of containers that are actually talking.
// Evictions are counted in Stats.Evictions. A flood that repeats each MAC
// can still promote its MACs, but never past MaxEntries.
//
// # Generation
//
// Generation is a number that changes whenever a MAC joins or leaves the
// table or changes owner, and Snapshot returns it with the entries of that
// generation, so that a consumer mirroring the table (the kernel fast
// path) copies it only when it changed. Table writes bump it under the
// write lock with one atomic add; refreshes, which need only the read
// lock, leave it alone.
//
// # Concurrency
//
// All methods of a Switch are safe for concurrent use. The intended use is
// one goroutine calling FromLocal (the TAP reader) and several calling
// FromPeer (one per transport reader) at the same time as a timer calling
// Expire and the control plane calling ForgetPeer, Lookup, Stats,
// Generation and Snapshot. FromLocal and FromPeer take the read lock once per batch; if a
// frame needs a table write (a new MAC, a move) the batch upgrades to the
// write lock for its remaining frames, so a batch takes at most two locks
// and its frames are decided exactly as if processed one by one. Counters
// are accumulated per batch and published with one atomic add per counter.
//
// Neither FromLocal nor FromPeer allocates, in steady state or when
// learning and evicting, except when the table doubles (at most
// log2(MaxEntries/256) times in its life). A Batch and its out slice belong to the caller and
// are not retained.
package ethswitch
