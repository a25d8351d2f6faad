package alloc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
)

// Reclaiming a dead peer's space (rmpeer) is the one change to entries a
// peer does not own, and the source of Weave's duplicate addresses: two
// hosts reclaiming the same peer, or a reclaim that misses a transfer the
// dead peer made. Here a reclaim is a proposal that commits only once
// every other member agrees to it; see the package doc for the rule.

// ErrRefused wraps every reason Propose refuses a reclaim.
var ErrRefused = errors.New("rmpeer refused")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// deadHash hashes the entries the dead peers own (token and version).
func (a *Allocator) deadHash(dead []frame.PeerName) uint64 {
	h := fnv.New64a()
	var b [4 + frame.PeerNameSize + 4]byte
	for _, e := range a.st.Ring.Entries {
		if slices.Contains(dead, e.Owner) {
			binary.BigEndian.PutUint32(b[:4], e.Token)
			e.Owner.Put(b[4:10])
			binary.BigEndian.PutUint32(b[10:], e.Version)
			h.Write(b[:])
		}
	}
	return h.Sum64()
}

// ownsSpace reports whether p owns any entry.
func (a *Allocator) ownsSpace(p frame.PeerName) bool {
	for _, e := range a.st.Ring.Entries {
		if e.Owner == p {
			return true
		}
	}
	return false
}

// required is the members that must ack a reclaim of dead: every active
// member but the dead.
func (a *Allocator) required(dead []frame.PeerName) []frame.PeerName {
	var out []frame.PeerName
	for _, n := range a.st.memberNames() {
		if a.st.Members[n].active() && !slices.Contains(dead, n) {
			out = append(out, n)
		}
	}
	return out
}

// Propose starts reclaiming the space of the dead peers and returns the
// proposal's number; Tick moves it along and Proposal reports on it. It
// refuses (an error wrapping ErrRefused) when a dead peer is us, unknown,
// removed already or alive, when another member is unreachable (it must
// agree), or when another reclaim of one of them is running.
func (a *Allocator) Propose(dead []frame.PeerName) (uint32, error) {
	if a.st == nil {
		return 0, refuse("this peer has no allocation ring yet")
	}
	if a.me().Proposal != nil {
		return 0, refuse("a reclaim started here is still running")
	}
	dead = slices.Clone(dead)
	slices.Sort(dead)
	dead = slices.Compact(dead)
	if len(dead) == 0 || len(dead) > MaxDead {
		return 0, refuse("give 1 to %d peers", MaxDead)
	}
	for _, d := range dead {
		m := a.st.Members[d]
		switch {
		case d == a.self:
			return 0, refuse("%s is this peer", d)
		case m == nil && !a.ownsSpace(d):
			return 0, refuse("%s is not a member of the allocation ring", d)
		case m != nil && m.Removed && !a.ownsSpace(d):
			return 0, refuse("%s was removed already", d)
		case a.cfg.Alive(d):
			return 0, refuse("%s is alive and reachable: rmpeer is for peers that are gone (stop it first)", d)
		}
	}
	var unreachable []string
	for _, n := range a.required(dead) {
		if n != a.self && !a.cfg.Alive(n) {
			unreachable = append(unreachable, n.String())
		}
	}
	if len(unreachable) > 0 {
		return 0, refuse("members %s are unreachable: they must agree to the reclaim (they may hold updates of the dead peer's space, "+
			"or reclaim it themselves on their side of a partition); reconnect them, or name them too if they are gone",
			strings.Join(unreachable, ", "))
	}
	for _, n := range a.st.memberNames() {
		if p := a.st.Members[n].Proposal; p != nil && n != a.self && overlaps(p.Dead, dead) {
			return 0, refuse("%s is already reclaiming %s", n, names(p.Dead))
		}
	}
	// A proposal number is never reused: acks of an earlier proposal
	// must not count for this one.
	seq, ok := inc(a.proposal)
	if m := a.me(); ok && m.Ack != nil && m.Ack.By == a.self && m.Ack.Seq >= seq {
		seq, ok = inc(m.Ack.Seq)
	}
	if !ok {
		return 0, refuse("this peer's proposal numbers are exhausted")
	}
	a.proposal = seq
	h := a.deadHash(dead)
	a.updateSelf(func(m *Member) {
		m.Proposal = &Proposal{Seq: seq, Dead: dead, Hash: h}
		m.Ack = &Ack{By: a.self, Seq: seq}
	})
	a.log.Info("ipam: reclaim proposed", "dead", names(dead), "seq", seq)
	return seq, nil
}

func overlaps(a, b []frame.PeerName) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// Withdraw abandons our proposal seq, if it is still running.
func (a *Allocator) Withdraw(seq uint32) {
	if a.st == nil {
		return
	}
	if p := a.me().Proposal; p != nil && p.Seq == seq {
		a.updateSelf(func(m *Member) { m.Proposal, m.Ack = nil, nil })
		a.log.Info("ipam: reclaim withdrawn", "dead", names(p.Dead), "seq", seq)
	}
}

// ProposalStatus reports on our proposal seq: committed (and how many
// addresses it reclaimed), running (and the members whose ack is
// missing), or gone (withdrawn or superseded).
func (a *Allocator) ProposalStatus(seq uint32) (committed bool, reclaimed int, waiting []frame.PeerName, running bool) {
	if n, ok := a.commits[seq]; ok {
		return true, n, nil, false
	}
	if a.st == nil {
		return false, 0, nil, false
	}
	p := a.me().Proposal
	if p == nil || p.Seq != seq {
		return false, 0, nil, false
	}
	return false, 0, a.missingAcks(p), true
}

func (a *Allocator) missingAcks(p *Proposal) []frame.PeerName {
	var out []frame.PeerName
	for _, n := range a.required(p.Dead) {
		ack := a.st.Members[n].Ack
		if ack == nil || ack.By != a.self || ack.Seq != p.Seq {
			out = append(out, n)
		}
	}
	return out
}

// reclaimStep runs our side of every reclaim: as a proposer (re-propose
// when our view of the dead peers' space changed, yield to a concurrent
// proposal by a lower name, commit once all acks are in) and as a member
// (ack one proposal at a time, and keep it while it runs).
func (a *Allocator) reclaimStep() {
	me := a.me()
	if p := me.Proposal; p != nil {
		a.proposerStep(p)
		return
	}
	if ack := me.Ack; ack != nil {
		// Keep our ack while its proposal runs unchanged and none of its
		// dead peers came back.
		if pm := a.st.Members[ack.By]; pm.active() && pm.Proposal != nil && pm.Proposal.Seq == ack.Seq && !a.anyAlive(pm.Proposal.Dead) {
			return
		}
		a.updateSelf(func(m *Member) { m.Ack = nil })
	}
	// Ack the proposal of the lowest name among those we agree with.
	for _, n := range a.st.memberNames() {
		pm := a.st.Members[n]
		p := pm.Proposal
		if n == a.self || !pm.active() || p == nil || !a.agrees(p) {
			continue
		}
		seq := p.Seq
		a.updateSelf(func(m *Member) { m.Ack = &Ack{By: n, Seq: seq} })
		return
	}
}

// agrees reports whether we can ack p: every dead peer is still a member
// or owns space, none is alive from here, and our view of their space is
// the proposer's.
func (a *Allocator) agrees(p *Proposal) bool {
	for _, d := range p.Dead {
		if d == a.self || a.cfg.Alive(d) {
			return false
		}
		if m := a.st.Members[d]; (m == nil || m.Removed) && !a.ownsSpace(d) {
			return false
		}
	}
	return a.deadHash(p.Dead) == p.Hash
}

func (a *Allocator) anyAlive(ps []frame.PeerName) bool {
	for _, p := range ps {
		if a.cfg.Alive(p) {
			return true
		}
	}
	return false
}

func (a *Allocator) proposerStep(p *Proposal) {
	if a.anyAlive(p.Dead) {
		a.log.Warn("ipam: reclaim withdrawn: a dead peer came back", "dead", names(p.Dead))
		a.updateSelf(func(m *Member) { m.Proposal, m.Ack = nil, nil })
		return
	}
	for _, d := range p.Dead {
		if m := a.st.Members[d]; (m == nil || m.Removed) && !a.ownsSpace(d) {
			a.updateSelf(func(m *Member) { m.Proposal, m.Ack = nil, nil })
			return
		}
	}
	for _, n := range a.st.memberNames() {
		q := a.st.Members[n].Proposal
		if n < a.self && q != nil && a.st.Members[n].active() && overlaps(q.Dead, p.Dead) {
			a.log.Info("ipam: reclaim yields to a concurrent one", "dead", names(p.Dead), "by", n.String())
			a.updateSelf(func(m *Member) { m.Proposal, m.Ack = nil, nil })
			return
		}
	}
	if h := a.deadHash(p.Dead); h != p.Hash {
		// Our view of the dead peers' space changed (a late update): ask
		// again for the new view; acks of the old one do not count.
		seq, ok := inc(max(a.proposal, p.Seq))
		if !ok {
			a.log.Error("ipam: reclaim withdrawn: proposal numbers exhausted", "dead", names(p.Dead))
			a.updateSelf(func(m *Member) { m.Proposal, m.Ack = nil, nil })
			return
		}
		a.proposal = seq
		dead := p.Dead
		a.updateSelf(func(m *Member) {
			m.Proposal = &Proposal{Seq: seq, Dead: dead, Hash: h}
			m.Ack = &Ack{By: a.self, Seq: seq}
		})
		return
	}
	if len(a.missingAcks(p)) > 0 {
		return
	}
	a.commit(p)
}

// commit takes the dead peers' ranges (all free: their allocations went
// with them) and marks them removed.
//
// It does not commit while a dead peer's range is at the maximum version
// (no copy of ours could supersede it): the proposal stays until it is
// withdrawn or times out. Removed marks need no higher version (Removed
// outranks any version of its epoch), so theirs saturates.
func (a *Allocator) commit(p *Proposal) {
	r := a.st.Ring
	for i := range r.Entries {
		if _, ok := inc(r.Entries[i].Version); !ok && slices.Contains(p.Dead, r.Entries[i].Owner) {
			a.log.Error("ipam: cannot reclaim a range whose version is at its maximum",
				"token", u32ToAddr(r.Entries[i].Token).String(), "owner", r.Entries[i].Owner.String())
			return
		}
	}
	n := 0
	for i := range r.Entries {
		e := &r.Entries[i]
		if slices.Contains(p.Dead, e.Owner) {
			n += int(r.rangeOf(i).size())
			e.Owner = a.self
			e.Version, _ = inc(e.Version)
			e.Free = uint32(r.rangeOf(i).size())
		}
	}
	for _, d := range p.Dead {
		m := a.st.Members[d]
		if m == nil {
			m = &Member{Name: d}
		}
		v, _ := inc(m.Version)
		a.st.Members[d] = &Member{Name: d, Epoch: m.Epoch, Version: v, Removed: true}
	}
	a.updateSelf(func(m *Member) { m.Proposal, m.Ack = nil, nil })
	a.commits[p.Seq] = n
	a.recount()
	a.persistState()
	a.log.Info("ipam: reclaimed the space of dead peers", "dead", names(p.Dead), "addresses", n)
}
