package alloc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Leaving the ring for good (`down --leave`, `reset`) is the owner's own
// change of its entries, like a donation: every range we own goes to one
// live member, the heir, with its version bumped and all of it free (our
// containers go with us), and our register is marked Removed. Both are
// ordinary CRDT changes, so the peers take them in by merging, and a
// retired host needs no rmpeer. Nothing is allocated here afterwards.

// ErrLeft: this peer left the ring; it allocates nothing until the
// router starts again (and rejoins as a new member).
var ErrLeft = errors.New("ipam: this peer left the allocation ring")

// ErrNoHeir wraps why Leave found no live member to hand our ranges to.
var ErrNoHeir = errors.New("ipam: no live peer to hand this peer's address ranges to")

// Leave hands every range we own to a live member (the heir: the one
// owning the fewest addresses, the lowest name on a tie), drops our
// allocations and claims, and marks our register Removed. It returns the
// heir and how many addresses it got. With no ring, or when we are the
// ring's only active member, there is nobody to hand anything to: it
// returns frame.UnknownPeer and changes nothing. It fails (wrapping
// ErrNoHeir) when other members exist but none is alive, and when a
// range of ours is at its maximum version. Once it succeeded, Leave
// changes nothing more and returns the same heir and count.
func (a *Allocator) Leave() (heir frame.PeerName, handed uint64, err error) {
	if a.left {
		return a.heir, a.handed, nil
	}
	if a.st == nil {
		return frame.UnknownPeer, 0, nil
	}
	var others, dead []frame.PeerName
	for _, n := range a.st.memberNames() {
		if n == a.self || !a.st.Members[n].active() {
			continue
		}
		others = append(others, n)
		if !a.cfg.Alive(n) {
			dead = append(dead, n)
		}
	}
	if len(others) == 0 {
		return frame.UnknownPeer, 0, nil
	}
	if len(dead) == len(others) {
		return frame.UnknownPeer, 0, fmt.Errorf("%w: members %s are all unreachable (stop this router with plain 'down', and 'rmpeer' it from a member later)",
			ErrNoHeir, names(dead))
	}
	owned := map[frame.PeerName]uint64{}
	r := a.st.Ring
	for i, e := range r.Entries {
		owned[e.Owner] += r.rangeOf(i).size()
		if _, ok := inc(e.Version); !ok && e.Owner == a.self {
			return frame.UnknownPeer, 0, fmt.Errorf("%w: range at %s is at its maximum version", ErrNoHeir, u32ToAddr(e.Token))
		}
	}
	heir = frame.UnknownPeer
	for _, n := range others {
		if slices.Contains(dead, n) {
			continue
		}
		if heir == frame.UnknownPeer || owned[n] < owned[heir] {
			heir = n
		}
	}
	if _, ok := inc(a.me().Version); !ok {
		return frame.UnknownPeer, 0, fmt.Errorf("%w: our register is at its maximum version", ErrNoHeir)
	}
	// Our containers are gone (or going): their addresses are free.
	for key := range a.keys {
		a.Release(key)
	}
	clear(a.claims)
	a.wants = nil
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Owner != a.self {
			continue
		}
		size := r.rangeOf(i).size()
		handed += size
		e.Owner = heir
		e.Version, _ = inc(e.Version)
		e.Free = uint32(size)
	}
	a.updateSelf(func(m *Member) {
		m.Removed = true
		m.Wants, m.Proposal, m.Ack = nil, nil, nil
	})
	a.left, a.heir, a.handed = true, heir, handed
	a.leftAs = a.me().clone()
	a.recount()
	a.dirty = true
	// updateSelf saved the state: the handover is on disk before any
	// peer can hear of it.
	a.log.Info("ipam: left the ring", "heir", heir.String(), "addresses", handed)
	return heir, handed, nil
}

// Left reports whether this peer left the ring.
func (a *Allocator) Left() bool { return a.left }

// LeaveKnown reports whether a peer has confirmed our leave: a state
// merged from a peer held our Removed register (so the peer has the
// handover too, and keeps it).
func (a *Allocator) LeaveKnown() bool { return a.leaveKnown }

// noteLeave records whether o, a peer's state, carries our leave.
func (a *Allocator) noteLeave(o *State) {
	if !a.left || a.leaveKnown {
		return
	}
	if m := o.Members[a.self]; m != nil && m.Removed && m.cmp(a.leftAs) >= 0 {
		a.leaveKnown = true
	}
}

// Leave is Allocator.Leave for a router: it hands our ranges to the heir
// and then waits, until ctx is done, for a peer to confirm it holds the
// handover (its gossiped state carries our leave), so that the router
// can stop without the only copy of the handover going with it. When ctx
// ends first the handover stands (it is saved here, and gossiped while
// the router runs) and the error says no peer confirmed it yet.
func (s *Service) Leave(ctx context.Context) (heir frame.PeerName, handed uint64, err error) {
	s.mu.Lock()
	heir, handed, err = s.a.Leave()
	s.afterLocked()
	s.mu.Unlock()
	if err != nil || heir == frame.UnknownPeer {
		return heir, handed, err
	}
	for {
		s.mu.Lock()
		known := s.a.LeaveKnown()
		wait := s.changed
		s.mu.Unlock()
		if known {
			return heir, handed, nil
		}
		select {
		case <-wait:
		case <-time.After(TickInterval):
		case <-ctx.Done():
			return heir, handed, fmt.Errorf("ipam: handed %d addresses to %s, but no peer confirmed the handover in time: %w", handed, heir, ctx.Err())
		case <-s.quit:
			return heir, handed, ErrClosed
		}
	}
}
