package alloc

import (
	"fmt"
	"slices"
)

// Encode returns the gossiped state, or nil while there is no ring or
// the state cannot be saved (a peer must not hear of a change that a
// crash here would forget).
func (a *Allocator) Encode() []byte {
	if a.st == nil || a.saveUnsavedState() != nil {
		return nil
	}
	return AppendState(nil, a.st)
}

// TakeDirty reports whether the state changed since the last call (then
// it is worth gossiping) and clears the flag.
func (a *Allocator) TakeDirty() bool {
	d := a.dirty
	a.dirty = false
	return d
}

// Merge folds a state a peer gossiped into ours. It returns an error for
// a malformed state or one of another ring, and changes nothing then.
func (a *Allocator) Merge(b []byte) error {
	o, err := DecodeState(b)
	if err != nil {
		return err
	}
	return a.MergeState(o)
}

// MergeState is Merge for a decoded state; o is not retained.
func (a *Allocator) MergeState(o *State) error {
	if a.st == nil {
		if o.Ring.Universe != a.cfg.Universe {
			return fmt.Errorf("%w: range %s, ours %s", ErrDifferentRing, o.Ring.Universe, a.cfg.Universe)
		}
		if len(a.cfg.Seeds) > 0 {
			seeds := NewRing(a.cfg.Universe, a.cfg.Seeds).Seeds
			if !slices.Equal(seeds, o.Ring.Seeds) {
				return fmt.Errorf("%w: seeded by %s, we were told %s", ErrDifferentRing, names(o.Ring.Seeds), names(seeds))
			}
		}
		if o.Members[a.self] == nil && len(o.Members) >= MaxMembers {
			return fmt.Errorf("the allocation ring has the maximum of %d members: rmpeer gone peers first", MaxMembers)
		}
		a.st = o.clone()
		a.log.Info("ipam: joined the ring", "seeds", names(o.Ring.Seeds), "range", o.Ring.Universe)
		a.afterMerge(nil)
		a.dirty = true
		return nil
	}
	if err := a.st.checkIdentity(o); err != nil {
		if !a.yields(o) {
			return err
		}
		a.log.Info("ipam: our unused ring gives way to a peer's", "ours", names(a.st.Ring.Seeds), "theirs", names(o.Ring.Seeds))
		a.st, a.fresh = nil, false
		a.st = o.clone()
		a.afterMerge(nil)
		a.dirty = true
		return nil
	}
	a.fresh = false
	a.noteLeave(o)
	mine := a.me()
	if !a.st.merge(o) {
		return nil
	}
	a.afterMerge(mine)
	a.dirty = true
	return nil
}

// afterMerge applies the rules about ourselves after a merge (mine is our
// register before it, nil when we just joined).
func (a *Allocator) afterMerge(mine *Member) {
	m := a.me()
	switch {
	case a.left:
		// We left: no rejoining and no claims on our old register.
	case m != nil && m.Removed:
		// A reclaim committed: our space is someone else's now, and we
		// rejoin as a new member without space.
		a.log.Error("ipam: this peer was removed by rmpeer and its ranges reclaimed: rejoining without space")
		a.register()
	case m != nil && mine != nil && m != mine:
		// A newer copy of our register is an earlier run's whose state we
		// lost: keep ours, numbered past it.
		if v, ok := inc(m.Version); ok {
			keep := mine.clone()
			keep.Epoch, keep.Version = m.Epoch, v
			a.st.Members[a.self] = keep
		} else {
			a.log.Error("ipam: a copy of our register at the maximum version supersedes ours for good")
		}
	case m == nil:
		a.register()
	}
	// Addresses in ranges another peer owns now: only a reclaim of us, or a
	// transfer our stored state missed, does that. They are lost.
	for ad, key := range a.addrs {
		i := a.st.Ring.find(uint64(ad))
		if i < 0 || a.st.Ring.Entries[i].Owner == a.self {
			continue
		}
		a.log.Error("ipam: lost an allocated address: its range belongs to another peer now",
			"addr", u32ToAddr(ad).String(), "key", key, "owner", a.st.Ring.Entries[i].Owner.String())
		a.dropAddr(key, ad)
		a.lost++
	}
	a.recount()
	a.persistState()
}

func (a *Allocator) dropAddr(key string, ad uint32) {
	delete(a.addrs, ad)
	ks := a.keys[key]
	for i, v := range ks {
		if v == ad {
			ks = append(ks[:i], ks[i+1:]...)
			break
		}
	}
	if len(ks) == 0 {
		delete(a.keys, key)
	} else {
		a.keys[key] = ks
	}
	a.persistKey(key)
}

// yields reports whether our ring gives way to o's: ours was seeded by
// default and is unused (we are its only member and hold no address), and
// o's has other members, or is also a lone default ring whose identity
// sorts first (so that of two such rings exactly one yields).
func (a *Allocator) yields(o *State) bool {
	if !a.cfg.Yield || a.st.Ring.Universe != o.Ring.Universe || len(a.addrs) > 0 {
		return false
	}
	if len(a.st.Members) != 1 || a.me() == nil {
		return false
	}
	for _, e := range a.st.Ring.Entries {
		if e.Owner != a.self {
			return false
		}
	}
	if len(o.Members) > 1 || len(o.Ring.Seeds) > 1 {
		return true
	}
	return o.Ring.identity() < a.st.Ring.identity()
}
