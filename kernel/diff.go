package kernel

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// Changes is what changed between two Views, in deterministic order.
type Changes struct {
	// Learned: MACs new in the second View.
	Learned []frame.MAC
	// Moved: MACs whose peer changed.
	Moved []frame.MAC
	// Forgotten: MACs gone from the second View.
	Forgotten []frame.MAC
	// LinksDown: peers that were LinkUp and no longer are, or whose
	// address changed, or that are gone. Everything offloaded to them is
	// invalid.
	LinksDown []frame.PeerName
	// LinksUp: peers that are LinkUp now and were not (or had another
	// address).
	LinksUp []frame.PeerName
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Learned)+len(c.Moved)+len(c.Forgotten)+len(c.LinksDown)+len(c.LinksUp) == 0
}

// Diff returns the changes from old to cur; either may be nil (empty).
func Diff(old, cur *View) Changes {
	if old == nil {
		old = &View{}
	}
	if cur == nil {
		cur = &View{}
	}
	var c Changes
	for m, p := range cur.MACs {
		switch q, ok := old.MACs[m]; {
		case !ok:
			c.Learned = append(c.Learned, m)
		case q != p:
			c.Moved = append(c.Moved, m)
		}
	}
	for m := range old.MACs {
		if _, ok := cur.MACs[m]; !ok {
			c.Forgotten = append(c.Forgotten, m)
		}
	}
	for p, l := range old.Links {
		if l.State != LinkUp {
			continue
		}
		if n, ok := cur.Links[p]; !ok || n.State != LinkUp || n.Addr != l.Addr {
			c.LinksDown = append(c.LinksDown, p)
		}
	}
	for p, l := range cur.Links {
		if l.State != LinkUp {
			continue
		}
		if o, ok := old.Links[p]; !ok || o.State != LinkUp || o.Addr != l.Addr {
			c.LinksUp = append(c.LinksUp, p)
		}
	}
	for _, s := range [][]frame.MAC{c.Learned, c.Moved, c.Forgotten} {
		slices.SortFunc(s, func(a, b frame.MAC) int { return bytes.Compare(a[:], b[:]) })
	}
	slices.SortFunc(c.LinksDown, cmp.Compare)
	slices.SortFunc(c.LinksUp, cmp.Compare)
	return c
}
