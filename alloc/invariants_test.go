package alloc

import (
	"fmt"
	"slices"
)

// checkInvariants verifies an allocator's internal consistency: the ring
// covers the universe in ascending tokens, every address we hold lies in
// a range we own, the per-entry counts match, and every key's addresses
// are the reverse index of addrs.
func (a *Allocator) checkInvariants() error {
	if a.st == nil {
		if len(a.addrs) > 0 {
			return fmt.Errorf("%d addresses without a ring", len(a.addrs))
		}
		return nil
	}
	r := a.st.Ring
	if len(r.Entries) == 0 || uint64(r.Entries[0].Token) != prefixSpan(r.Universe).lo {
		return fmt.Errorf("ring does not start at the universe's start")
	}
	for i := 1; i < len(r.Entries); i++ {
		if r.Entries[i].Token <= r.Entries[i-1].Token {
			return fmt.Errorf("tokens out of order at %d", i)
		}
	}
	used := map[uint32]uint32{}
	for ad, key := range a.addrs {
		i := r.find(uint64(ad))
		if i < 0 || r.Entries[i].Owner != a.self {
			return fmt.Errorf("%s (key %s) is outside our ranges", u32ToAddr(ad), key)
		}
		used[r.Entries[i].Token]++
		if !slices.Contains(a.keys[key], ad) {
			return fmt.Errorf("%s missing from key %s", u32ToAddr(ad), key)
		}
	}
	for key, ads := range a.keys {
		for _, ad := range ads {
			if a.addrs[ad] != key {
				return fmt.Errorf("key %s lists %s, held by %q", key, u32ToAddr(ad), a.addrs[ad])
			}
		}
	}
	for tok, n := range used {
		if a.used[tok] != n {
			return fmt.Errorf("range %s counts %d allocations, holds %d", u32ToAddr(tok), a.used[tok], n)
		}
	}
	if m := a.me(); m == nil || m.Removed {
		return fmt.Errorf("our register is missing or removed after a tick")
	}
	return nil
}
