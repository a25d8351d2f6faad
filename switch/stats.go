package ethswitch

import "sync/atomic"

// Stats is a snapshot of a Switch's counters. Counters only grow, except
// Entries, the current table size.
type Stats struct {
	Entries   int    // MACs in the table now (<= MaxEntries)
	Learned   uint64 // new MACs added to the table
	Moves     uint64 // MACs that changed owner peer
	Evictions uint64 // entries evicted to make room (table full)
	Expired   uint64 // entries removed by Expire
	Forgotten uint64 // entries removed by ForgetPeer

	// Decisions that forward.
	Local         uint64 // FromPeer -> Local
	Unicast       uint64 // FromLocal -> Peer
	Relayed       uint64 // FromPeer -> Peer (Meta.Dst was another peer)
	Flooded       uint64 // FromLocal -> Flood
	LocalAndFlood uint64 // FromPeer -> LocalAndFlood
	FloodOnly     uint64 // FromPeer -> Flood (flooded, destination MAC on another peer)

	// Drops by reason.
	DropMalformed    uint64 // shorter than an Ethernet header
	DropMulticastSrc uint64 // group address as source MAC
	DropLinkLocal    uint64 // destination 01:80:c2:00:00:0x (STP, LACP, LLDP, ...)
	DropEcho         uint64 // FromLocal: source MAC recently seen behind a remote peer
	DropLocalDst     uint64 // FromLocal: destination MAC is local, the bridge delivered it
	DropOwnFrame     uint64 // FromPeer: Meta.Src is Self
	DropNoSrcPeer    uint64 // FromPeer: Meta.Src is UnknownPeer
}

// Drops returns the total of the Drop* counters.
func (s Stats) Drops() uint64 {
	return s.DropMalformed + s.DropMulticastSrc + s.DropLinkLocal + s.DropEcho +
		s.DropLocalDst + s.DropOwnFrame + s.DropNoSrcPeer
}

// counter names one monotonic counter.
type counter uint8

const (
	cLearned counter = iota
	cMoves
	cEvictions
	cExpired
	cForgotten
	cLocal
	cUnicast
	cRelayed
	cFlooded
	cLocalAndFlood
	cFloodOnly
	cDropMalformed
	cDropMulticastSrc
	cDropLinkLocal
	cDropEcho
	cDropLocalDst
	cDropOwnFrame
	cDropNoSrcPeer
	numCounters
)

// counters are the Switch's shared atomic counters.
type counters struct {
	c       [numCounters]atomic.Uint64
	entries atomic.Int64
}

// batchCounts accumulates one batch's counts on the stack so that the
// shared atomics are touched once per batch, not once per frame.
type batchCounts [numCounters]uint64

func (c *counters) add(b *batchCounts) {
	for i, v := range b {
		if v != 0 {
			c.c[i].Add(v)
		}
	}
}

func (c *counters) snapshot() Stats {
	g := func(k counter) uint64 { return c.c[k].Load() }
	return Stats{
		Entries:          int(c.entries.Load()),
		Learned:          g(cLearned),
		Moves:            g(cMoves),
		Evictions:        g(cEvictions),
		Expired:          g(cExpired),
		Forgotten:        g(cForgotten),
		Local:            g(cLocal),
		Unicast:          g(cUnicast),
		Relayed:          g(cRelayed),
		Flooded:          g(cFlooded),
		LocalAndFlood:    g(cLocalAndFlood),
		FloodOnly:        g(cFloodOnly),
		DropMalformed:    g(cDropMalformed),
		DropMulticastSrc: g(cDropMulticastSrc),
		DropLinkLocal:    g(cDropLinkLocal),
		DropEcho:         g(cDropEcho),
		DropLocalDst:     g(cDropLocalDst),
		DropOwnFrame:     g(cDropOwnFrame),
		DropNoSrcPeer:    g(cDropNoSrcPeer),
	}
}
