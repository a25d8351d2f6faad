package alloc

import (
	"net/netip"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// MaxDonation caps one donation, so that a peer with a huge range hands
// out a useful chunk without scanning all of it.
const MaxDonation = 1 << 16

// Tick does the allocator's periodic work: publish our free counts,
// settle claims and wants, donate space to live members that want some,
// and move reclaims along. Call it after merges and every few hundred
// milliseconds.
func (a *Allocator) Tick() {
	a.retryUnsaved()
	if a.st == nil || a.fresh || a.left {
		return
	}
	a.ticks++
	a.settleClaims()
	a.settleWants()
	a.donate()
	a.reclaimStep()
	a.refreshFree()
	if a.dirty {
		_ = a.persistState() // on error, tried again at the next Tick
	}
}

// refreshFree writes our exact free counts into our entries.
func (a *Allocator) refreshFree() {
	r := a.st.Ring
	for i := range r.Entries {
		e := &r.Entries[i]
		if e.Owner != a.self {
			continue
		}
		free := uint32(r.rangeOf(i).size() - uint64(a.used[e.Token]))
		if v, ok := inc(e.Version); ok && e.Free != free {
			e.Free, e.Version = free, v
			a.dirty = true
		}
	}
}

// settleClaims completes claims of addresses that are ours now.
func (a *Allocator) settleClaims() {
	for ad, key := range a.claims {
		if _, ok := a.owns(uint64(ad)); !ok {
			a.want(netip.PrefixFrom(u32ToAddr(ad), 32))
			continue
		}
		if holder, taken := a.addrs[ad]; !taken {
			if a.stateUnsaved || a.take(key, ad) != nil {
				continue // the claim stays, for the next Tick
			}
		} else if holder != key {
			a.log.Warn("ipam: claimed address is allocated to another container",
				"addr", u32ToAddr(ad).String(), "key", key, "holder", holder)
		}
		delete(a.claims, ad)
	}
}

// settleWants drops wants we have space for now, and keeps a want for
// each pending claim.
func (a *Allocator) settleWants() {
	keep := a.wants[:0]
	for _, w := range a.wants {
		use := usable(w).intersect(prefixSpan(a.cfg.Universe))
		if w.Bits() == 32 {
			_, pending := a.claims[addrToU32(w.Addr())]
			if pending {
				keep = append(keep, w)
			}
			continue
		}
		if _, ok := a.findFree(w, use); !ok {
			keep = append(keep, w)
		}
	}
	a.wants = keep
	a.syncWants()
}

// wantSeen is a member's want as a donor saw it.
type wantSeen struct {
	seq      uint32
	since    uint64 // tick first seen
	answered bool
}

// donorPatience is how many ticks a want waits for its best donor before
// any peer with space answers it (views of the free counts can differ).
const donorPatience = 6

// donate gives space to live members that want some in a subnet where we
// have free addresses: the largest free run, at most half our free
// space there (at least one address) and MaxDonation. The live member
// with the most free space there (by the gossiped free counts) answers a
// want; if it has not after donorPatience ticks, any member with space
// does. Each want (WantSeq) is answered once by each donor.
func (a *Allocator) donate() {
	for _, name := range a.st.memberNames() {
		m := a.st.Members[name]
		if name == a.self || !m.active() || len(m.Wants) == 0 || !a.cfg.Alive(name) {
			continue
		}
		seen := a.donated[name]
		if seen.seq != m.WantSeq || seen.since == 0 {
			seen = wantSeen{seq: m.WantSeq, since: a.ticks}
		}
		if seen.answered {
			continue
		}
		if len(a.st.Ring.Entries)+2 > MaxEntries {
			a.log.Error("ipam: the ring has as many ranges as the gossiped state can carry: no more donations", "ranges", len(a.st.Ring.Entries))
			return
		}
		gave := false
		for _, w := range m.Wants {
			use := usable(w).intersect(prefixSpan(a.cfg.Universe))
			if w.Bits() == 32 {
				use = prefixSpan(w)
			}
			if slices.Contains(a.wants, w) {
				continue // we lack space there ourselves
			}
			if a.bestDonor(use, name) != a.self && a.ticks-seen.since < donorPatience {
				continue
			}
			free := a.freeIn(use)
			if free == 0 {
				continue
			}
			n := min(max(free/2, 1), MaxDonation)
			if lo, hi, ok := a.freeRun(use, n); ok && a.transfer(lo, hi, name) {
				gave = true
				a.log.Info("ipam: donated space", "to", name.String(), "want", w.String(),
					"from", u32ToAddr(uint32(lo)).String(), "addresses", hi-lo)
			}
		}
		seen.answered = gave || a.ticks-seen.since >= donorPatience
		a.donated[name] = seen
	}
}

// bestDonor is the live member (other than the asker) with the most free
// addresses in use by the gossiped counts, the lowest name on a tie.
func (a *Allocator) bestDonor(use span, asker frame.PeerName) frame.PeerName {
	free := map[frame.PeerName]uint64{}
	r := a.st.Ring
	for i, e := range r.Entries {
		if e.Owner == asker || e.Free == 0 || (e.Owner != a.self && !a.cfg.Alive(e.Owner)) {
			continue
		}
		free[e.Owner] += min(uint64(e.Free), r.rangeOf(i).intersect(use).size())
	}
	best, most := frame.UnknownPeer, uint64(0)
	for p, n := range free {
		if n > most || n == most && n > 0 && p < best {
			best, most = p, n
		}
	}
	return best
}

// freeIn counts our free addresses in use.
func (a *Allocator) freeIn(use span) uint64 {
	var n uint64
	a.st.Ring.ownedSpans(a.self, func(i int, s span) bool {
		s = s.intersect(use)
		if s.size() == 0 {
			return true
		}
		if uint64(a.used[a.st.Ring.Entries[i].Token]) == 0 {
			n += s.size()
			return true
		}
		for ad := s.lo; ad < s.hi; ad++ {
			if _, taken := a.addrs[uint32(ad)]; !taken {
				n++
			}
		}
		return true
	})
	return n
}

// freeRun finds the longest run of our free addresses in use, stopping
// early at one of length want, and returns up to want addresses of it.
func (a *Allocator) freeRun(use span, want uint64) (lo, hi uint64, ok bool) {
	best := span{}
	a.st.Ring.ownedSpans(a.self, func(_ int, s span) bool {
		s = s.intersect(use)
		run := s.lo
		for ad := s.lo; ad <= s.hi; ad++ {
			_, taken := a.addrs[uint32(ad)]
			if ad == s.hi || taken {
				if ad-run > best.size() {
					best = span{run, ad}
				}
				if best.size() >= want {
					return false
				}
				run = ad + 1
			}
		}
		return true
	})
	if best.size() == 0 {
		return 0, 0, false
	}
	return best.lo, best.lo + min(best.size(), want), true
}

// transfer gives [lo, hi), free and inside one of our ranges, to peer p.
// It refuses (false) when the token at lo is at the maximum version: no
// copy of the transfer could supersede the range's current one.
func (a *Allocator) transfer(lo, hi uint64, p frame.PeerName) bool {
	r := a.st.Ring
	if i := r.find(lo); uint64(r.Entries[i].Token) == lo {
		if _, ok := inc(r.Entries[i].Version); !ok {
			a.log.Error("ipam: cannot donate a range whose version is at its maximum", "token", u32ToAddr(uint32(lo)).String())
			return false
		}
	}
	i := r.split(lo)
	if hi < r.rangeOf(i).hi {
		r.split(hi)
	}
	e := &r.Entries[i]
	e.Owner = p
	e.Version, _ = inc(e.Version)
	e.Free = uint32(hi - lo)
	a.recount()
	a.dirty = true
	// The transfer must be on disk before any peer can hear of it: a
	// restart from an older state would hand the range out again.
	a.persistState()
	return true
}

// Wants returns the subnets (and /32 claims) we are asking space for.
func (a *Allocator) Wants() []netip.Prefix { return slices.Clone(a.wants) }

// Idle reports whether Tick has nothing to do until something changes
// (a call, a merge): nothing waits to be saved, and neither we nor any
// member wants space, claims an address or runs a reclaim. A Service
// ticks an idle allocator seldom.
func (a *Allocator) Idle() bool {
	if len(a.unsavedKeys) > 0 || a.stateUnsaved {
		return false
	}
	if a.st == nil || a.fresh || a.left {
		return true
	}
	if len(a.claims) > 0 || len(a.wants) > 0 {
		return false
	}
	for _, m := range a.st.Members {
		if m.active() && (len(m.Wants) > 0 || m.Proposal != nil || m.Ack != nil) {
			return false
		}
	}
	return true
}
