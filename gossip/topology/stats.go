package topology

import (
	"math"
	"strconv"
)

// DropReason says why Merge refused an entry (or MergeEncoded the rest of
// a message).
type DropReason uint8

const (
	// DropInvalid: the entry fails Validate.
	DropInvalid DropReason = iota
	// DropAhead: the entry's Incarnation is more than
	// Config.MaxClockSkew ahead of our clock.
	DropAhead
	// DropMalformed: a message MergeEncoded could not decode to its end
	// (a malformed entry, or more than MaxEntriesPerMessage entries);
	// counted once per message.
	DropMalformed
	// NumDropReasons is the number of reasons, for arrays indexed by one.
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{"invalid", "ahead", "malformed"}

// String returns the reason's name, suitable as a metric label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "reason" + strconv.Itoa(int(r))
}

// Stats counts what Merge, MergeFrom and MergeEncoded refused.
type Stats struct {
	// Dropped counts refused entries (messages, for DropMalformed) by
	// reason. Counters saturate at math.MaxUint64.
	Dropped [NumDropReasons]uint64
}

// Stats returns the counters of what merges refused.
func (t *Topology) Stats() Stats { return t.stats }

// drop counts one refusal for reason r.
func (t *Topology) drop(r DropReason) {
	if t.stats.Dropped[r] != math.MaxUint64 {
		t.stats.Dropped[r]++
	}
}

// horizon returns the largest Incarnation Merge accepts now: our clock
// plus Config.MaxClockSkew, saturating.
func (t *Topology) horizon() uint64 {
	now := t.cfg.Now().UnixNano()
	if now < 0 {
		now = 0
	}
	return satAdd(uint64(now), uint64(t.cfg.MaxClockSkew))
}

// satAdd returns a+b, or math.MaxUint64 if that overflows.
func satAdd(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxUint64
}
