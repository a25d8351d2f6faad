package alloc

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// State is what peers gossip: the ring and every member's register. It
// is a state-based CRDT: Merge is commutative, associative and
// idempotent, so peers that have seen the same states hold the same
// state, in whatever order and however often the states arrived.
type State struct {
	Ring    *Ring
	Members map[frame.PeerName]*Member
}

// ErrDifferentRing is returned when merging a state of another ring: a
// different universe or different seed peers. This is how a cluster
// whose halves were seeded separately shows up; the states never mix.
var ErrDifferentRing = errors.New("allocator state belongs to a different ring")

func (s *State) memberNames() []frame.PeerName {
	return slices.Sorted(maps.Keys(s.Members))
}

func (s *State) clone() *State {
	c := &State{Ring: s.Ring.clone(), Members: make(map[frame.PeerName]*Member, len(s.Members))}
	for n, m := range s.Members {
		c.Members[n] = m.clone()
	}
	return c
}

// checkIdentity reports whether o is a state of the same ring as s.
func (s *State) checkIdentity(o *State) error {
	if s.Ring.Universe != o.Ring.Universe {
		return fmt.Errorf("%w: range %s, ours %s", ErrDifferentRing, o.Ring.Universe, s.Ring.Universe)
	}
	if !slices.Equal(s.Ring.Seeds, o.Ring.Seeds) {
		return fmt.Errorf("%w: seeded by %s, ours by %s (the cluster was started as separate halves: reset one side's data)",
			ErrDifferentRing, names(o.Ring.Seeds), names(s.Ring.Seeds))
	}
	return nil
}

// merge folds o into s (same identity) and reports whether s changed.
// It does not apply the rules about our own entries: the Allocator does.
func (s *State) merge(o *State) bool {
	changed := s.Ring.merge(o.Ring)
	for n, m := range o.Members {
		if cur := s.Members[n]; cur == nil || m.cmp(cur) > 0 {
			s.Members[n] = m.clone()
			changed = true
		}
	}
	return changed
}

func names(ps []frame.PeerName) string {
	out := ""
	for i, p := range ps {
		if i > 0 {
			out += ","
		}
		out += p.String()
	}
	return out
}
