package topology

import (
	"fmt"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// Merge stores every entry newer than what we have (see Compare) and
// returns, in ascending order, the peers whose entry changed and, among
// them, the peers that restarted (new Incarnation or UID): callers purge
// what they hold about the previous run of those (MACs, sessions).
//
// Entries about ourselves are never stored; if one outranks our own entry
// (a previous run of ours still circulating, or an impostor), we bump our
// Version past it so ours wins. Entries no newer than the tombstone of a
// removed peer are ignored. Invalid entries (see Validate), and entries
// whose Incarnation is more than Config.MaxClockSkew ahead of our clock,
// are refused and counted in Stats; nothing about them is recorded, so
// they do not affect later merges. Merge is commutative and idempotent
// among the entries it accepts. It takes ownership of the entries'
// Conns and Caps: the caller must not modify them afterwards.
func (t *Topology) Merge(entries []Entry) (changed, restarted []frame.PeerName) {
	return t.merge(nil, entries)
}

// MergeFrom is Merge for entries received from gossip neighbour from: it
// also records that from has them, so they are not echoed back to it.
func (t *Topology) MergeFrom(from frame.PeerName, entries []Entry) (changed, restarted []frame.PeerName) {
	return t.merge(t.nbrs[from], entries)
}

// MergeEncoded is MergeFrom (or Merge, if from is not a neighbour) for
// a message of back-to-back encoded entries (AppendEntry). It builds only
// the entries newer than ours: the redundant copies that flooding
// delivers cost a parse, not an allocation. Entries before a malformed one
// are merged, and so are the first MaxEntriesPerMessage of a message with
// more; the error wraps ErrMalformed, and the message counts once as
// DropMalformed.
func (t *Topology) MergeEncoded(from frame.PeerName, b []byte) (changed, restarted []frame.PeerName, err error) {
	nb := t.nbrs[from]
	lim := t.horizon()
	for off, i := 0, 0; off < len(b); i++ {
		if i == MaxEntriesPerMessage {
			err = errTooManyEntries
			break
		}
		var h Entry
		n, err1 := checkEntry(b[off:], &h)
		if err1 != nil {
			err = fmt.Errorf("entry at offset %d: %w", off, err1)
			break
		}
		if t.wants(nb, &h, lim) {
			e := buildEntry(b[off : off+n])
			c, r := t.mergeOne(nb, &e)
			changed, restarted = appendIf(changed, c, e.Name), appendIf(restarted, r, e.Name)
		}
		off += n
	}
	if err != nil {
		t.drop(DropMalformed)
	}
	slices.Sort(changed)
	slices.Sort(restarted)
	return slices.Compact(changed), slices.Compact(restarted), err
}

func (t *Topology) merge(from *neighbor, entries []Entry) (changed, restarted []frame.PeerName) {
	lim := t.horizon()
	for i := range entries {
		e := &entries[i]
		if e.Validate() != nil {
			t.drop(DropInvalid)
			continue
		}
		if !t.wants(from, e, lim) {
			continue
		}
		c, r := t.mergeOne(from, e)
		changed, restarted = appendIf(changed, c, e.Name), appendIf(restarted, r, e.Name)
	}
	slices.Sort(changed)
	slices.Sort(restarted)
	return slices.Compact(changed), slices.Compact(restarted)
}

func appendIf(s []frame.PeerName, ok bool, p frame.PeerName) []frame.PeerName {
	if ok {
		return append(s, p)
	}
	return s
}

// wants reports whether e (of which only Name, UID, Incarnation and
// Version are looked at) is newer than what we hold. Otherwise it handles
// e fully: it records that from has it, and deals with self entries. An
// entry whose Incarnation exceeds lim (see horizon) is refused and
// counted, and nothing about it is recorded.
func (t *Topology) wants(from *neighbor, e *Entry, lim uint64) bool {
	st := e.stamp()
	if st.inc > lim {
		t.drop(DropAhead)
		return false
	}
	if e.Name == t.self {
		t.mergeSelf(e, from)
		return false
	}
	if s, ok := t.slot[e.Name]; ok {
		if st.cmp(t.ents[s].stamp()) <= 0 {
			from.learn(s, st)
			return false
		}
		return true
	}
	tb, dead := t.tombs[e.Name]
	return !dead || st.cmp(tb.st) > 0
}

// mergeOne stores e, valid and wanted, and reports whether its peer is
// new or changed (always) and whether it restarted.
func (t *Topology) mergeOne(from *neighbor, e *Entry) (changed, restarted bool) {
	s, ok := t.slot[e.Name]
	if !ok {
		delete(t.tombs, e.Name)
		s = t.alloc(e.Name)
	} else if old := &t.ents[s]; old.Incarnation != e.Incarnation || old.UID != e.UID {
		restarted = true
	}
	t.store(s, *e)
	from.learn(s, e.stamp())
	return true, restarted
}

func (t *Topology) mergeSelf(e *Entry, from *neighbor) {
	st := e.stamp()
	from.learn(selfSlot, st)
	cur := t.ents[selfSlot]
	if c := st.cmp(cur.stamp()); c < 0 || c == 0 && e.UID == cur.UID {
		return
	}
	bump(&cur, st)
	t.store(selfSlot, cur)
}
