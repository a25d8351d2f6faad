package alloc

import (
	"cmp"
	"net/netip"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// Member is a peer's register in the gossiped state: whether it is still
// a member, the space it is asking for, and its part in reclaiming dead
// peers' space. Only the peer itself changes its register, bumping
// Version, except that the peer committing a reclaim marks the dead
// peers Removed.
type Member struct {
	Name frame.PeerName
	// Epoch counts the peer's memberships: a peer that was removed and
	// comes back rejoins with the next epoch.
	Epoch   uint32
	Version uint32
	// Removed: the peer's space was reclaimed (rmpeer). Final for Epoch.
	Removed bool
	// Wants are subnets (or single addresses, as /32) the peer needs space
	// in; peers with free space there donate some.
	Wants []netip.Prefix
	// WantSeq numbers the peer's requests: a donor answers each once.
	WantSeq uint32
	// Proposal is the reclaim this peer is running, if any.
	Proposal *Proposal
	// Ack is the reclaim this peer agrees to, if any (a proposer acks
	// its own).
	Ack *Ack
}

// Proposal is a reclaim of the space of dead peers, run by the member
// that holds it: it commits once every other member has acked it.
type Proposal struct {
	Seq  uint32
	Dead []frame.PeerName // sorted
	// Hash is the proposer's view of the dead peers' entries (token,
	// version): a member acks only if its view is the same.
	Hash uint64
}

// Ack agrees to proposal Seq of member By.
type Ack struct {
	By  frame.PeerName
	Seq uint32
}

// Limits of the gossiped state (the decoder enforces them). At the limits
// a state is under 1 MiB, the mesh's message bound: 32768 entries of 18
// bytes (590 KB), 2048 members of at most ~190 bytes (390 KB), 1024 seeds.
// A donor does not split its ranges past MaxEntries.
const (
	MaxWants   = 8
	MaxDead    = 16
	MaxMembers = 2048
	MaxEntries = 1 << 15
	MaxSeeds   = 1024
)

func (m *Member) clone() *Member {
	c := *m
	c.Wants = slices.Clone(m.Wants)
	if m.Proposal != nil {
		p := *m.Proposal
		p.Dead = slices.Clone(p.Dead)
		c.Proposal = &p
	}
	if m.Ack != nil {
		a := *m.Ack
		c.Ack = &a
	}
	return &c
}

// cmp orders two copies of one member's register: by epoch, then removal
// (final within an epoch), then version, then content, so that every peer
// keeps the same copy.
func (m *Member) cmp(o *Member) int {
	switch {
	case m.Epoch != o.Epoch:
		return cmp.Compare(m.Epoch, o.Epoch)
	case m.Removed != o.Removed:
		if m.Removed {
			return 1
		}
		return -1
	case m.Version != o.Version:
		return cmp.Compare(m.Version, o.Version)
	}
	a, b := appendMember(nil, m), appendMember(nil, o)
	return slices.Compare(a, b)
}

// active reports whether m is a live member (not removed).
func (m *Member) active() bool { return m != nil && !m.Removed }
