// Package reassembly puts frames that a transport carried in several
// pieces back together: a fixed pool of slots, each a buffer of
// frame.MaxSuperFrameSize bytes with a bitmap of the bytes received, so
// fragments may arrive in any order, duplicates and overlaps are refused,
// and a flood of incomplete frames evicts only the least recently touched
// reassembly. It allocates nothing after New. The sleeve, WireGuard and
// QUIC transports share it; each has its own fragment header on the wire.
package reassembly

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Limits: the default slot count and idle timeout. Each slot costs
// frame.MaxSuperFrameSize bytes plus a bitmap of one bit per byte.
const (
	DefaultSlots   = 32
	DefaultTimeout = time.Second
	bitmapWords    = (frame.MaxSuperFrameSize + 63) / 64
)

// Drop says why a frame (or, for the fragment reasons, one fragment) was
// dropped although its datagrams were well formed.
type Drop uint8

// Reasons for dropping frames and fragments, indexes of a Drops array.
const (
	DropEvicted      Drop = iota // a reassembly evicted for a newer frame: all slots busy
	DropTimeout                  // a reassembly untouched for more than the timeout
	DropDuplicate                // a fragment whose bytes had all arrived already (fragments, not frames)
	DropOverlap                  // a fragment overlapping bytes already there (fragments, not frames)
	DropInconsistent             // a reassembly replaced by a fragment of the same id with another total or Meta
	DropTooBig                   // a frame bigger than the caller's buffer (counted by the caller)
	NumDrops
)

// Drops counts drops by reason.
type Drops [NumDrops]atomic.Uint64

var dropNames = [NumDrops]string{"evicted", "timeout", "duplicate", "overlap", "inconsistent", "too-big"}

// String returns a short name for d, usable as a metric label.
func (d Drop) String() string {
	if d < NumDrops {
		return dropNames[d]
	}
	return fmt.Sprintf("Drop(%d)", uint8(d))
}

// Key identifies the frame a fragment belongs to.
type Key struct {
	From   netip.AddrPort // underlay sender (or any per-link identity)
	Sender frame.PeerName // the peer that cut the frame
	ID     uint32         // the sender's number for the frame
}

// Fragment is one piece of a frame: bytes [Offset, Offset+len(Data)) of a
// Total-byte frame. A Fragment with Offset 0 and len(Data) == Total is a
// whole frame. The decoder that made it has checked Offset+len(Data) <=
// Total <= frame.MaxSuperFrameSize and len(Data) > 0.
type Fragment struct {
	Key    Key
	Meta   frame.Meta // the whole frame's, the same in every fragment
	Offset int
	Total  int
	Data   []byte
}

// reassembly is one frame being put together.
type reassembly struct {
	key     Key
	inUse   bool
	meta    frame.Meta
	total   int
	got     int // bytes received
	touched time.Time
	seq     uint64 // of the last touch: the least is evicted first
	buf     []byte // frame.MaxSuperFrameSize bytes
	have    []uint64
}

// Reassembler puts fragmented frames back together in a fixed pool of
// slots. It allocates nothing after New and is used by one goroutine (its
// receiver).
type Reassembler struct {
	slots   []reassembly
	active  int
	last    int // slot of the last fragment, tried first
	seq     uint64
	now     func() time.Time
	t       time.Time // time of the current receive, set by tick
	drops   *Drops
	timeout time.Duration
}

// New returns a Reassembler of n slots with the default timeout, reading
// the clock with now and counting drops in drops.
func New(n int, now func() time.Time, drops *Drops) *Reassembler {
	ra := &Reassembler{slots: make([]reassembly, n), now: now, drops: drops, timeout: DefaultTimeout}
	bufs := make([]byte, n*frame.MaxSuperFrameSize)
	bits := make([]uint64, n*bitmapWords)
	for i := range ra.slots {
		s := &ra.slots[i]
		s.buf = bufs[i*frame.MaxSuperFrameSize : (i+1)*frame.MaxSuperFrameSize : (i+1)*frame.MaxSuperFrameSize]
		s.have = bits[i*bitmapWords : (i+1)*bitmapWords : (i+1)*bitmapWords]
	}
	return ra
}

// Tick reads the clock for the fragments of one receive and discards the
// reassemblies untouched for more than the timeout.
func (ra *Reassembler) Tick() {
	ra.t = ra.now()
	if ra.active == 0 {
		return
	}
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.inUse && ra.t.Sub(s.touched) > ra.timeout {
			ra.free(i, DropTimeout)
		}
	}
}

func (ra *Reassembler) free(i int, why Drop) {
	ra.slots[i].inUse = false
	ra.active--
	ra.drops[why].Add(1)
}

// Add files fragment f. When f completes a frame it returns the frame and
// its Meta with ok: the frame aliases slot's buffer until Release(slot)
// (slot is -1 for a frame that came whole in f, which then aliases f.Data).
func (ra *Reassembler) Add(f *Fragment) (fr []byte, meta frame.Meta, slot int, ok bool) {
	if f.Offset == 0 && len(f.Data) == f.Total {
		return f.Data, f.Meta, -1, true
	}
	key := f.Key
	i := ra.find(key)
	if i >= 0 {
		if s := &ra.slots[i]; s.total != f.Total || s.meta != f.Meta {
			// Not the frame we have: a sender that restarted and reuses
			// ids, or garbage. The newer fragment wins.
			ra.free(i, DropInconsistent)
			i = -1
		}
	}
	if i < 0 {
		i = ra.alloc()
		s := &ra.slots[i]
		s.key, s.inUse, s.meta, s.total, s.got = key, true, f.Meta, f.Total, 0
		clear(s.have[:(f.Total+63)/64])
		ra.active++
	}
	ra.last = i
	s := &ra.slots[i]
	lo, hi := f.Offset, f.Offset+len(f.Data)
	if some, all := bitsSet(s.have, lo, hi); some {
		if all {
			ra.drops[DropDuplicate].Add(1)
		} else {
			ra.drops[DropOverlap].Add(1)
		}
		return nil, frame.Meta{}, 0, false
	}
	copy(s.buf[lo:hi], f.Data)
	setBits(s.have, lo, hi)
	s.got += hi - lo
	ra.seq++
	s.touched, s.seq = ra.t, ra.seq
	if s.got < s.total {
		return nil, frame.Meta{}, 0, false
	}
	return s.buf[:s.total:s.total], s.meta, i, true
}

// Release frees the slot of a frame Add completed.
func (ra *Reassembler) Release(slot int) {
	if slot >= 0 && ra.slots[slot].inUse {
		ra.slots[slot].inUse = false
		ra.active--
	}
}

func (ra *Reassembler) find(key Key) int {
	if s := &ra.slots[ra.last]; s.inUse && s.key == key {
		return ra.last
	}
	if ra.active == 0 {
		return -1
	}
	for i := range ra.slots {
		if s := &ra.slots[i]; s.inUse && s.key == key {
			return i
		}
	}
	return -1
}

// alloc returns a free slot, evicting the least recently touched
// reassembly if there is none.
func (ra *Reassembler) alloc() int {
	oldest := -1
	for i := range ra.slots {
		s := &ra.slots[i]
		if !s.inUse {
			return i
		}
		if oldest < 0 || s.seq < ra.slots[oldest].seq {
			oldest = i
		}
	}
	ra.free(oldest, DropEvicted)
	return oldest
}

// bitsSet reports whether any and whether all of bits [lo, hi) of b are
// set; hi > lo.
func bitsSet(b []uint64, lo, hi int) (some, all bool) {
	first, last := lo>>6, (hi-1)>>6
	fm, lm := ^uint64(0)<<(lo&63), ^uint64(0)>>(63-(hi-1)&63)
	if first == last {
		m := fm & lm
		v := b[first] & m
		return v != 0, v == m
	}
	or, and := b[first]&fm|b[last]&lm, (b[first]|^fm)&(b[last]|^lm)
	for _, w := range b[first+1 : last] {
		or |= w
		and &= w
	}
	return or != 0, and == ^uint64(0)
}

// setBits sets bits [lo, hi) of b; hi > lo.
func setBits(b []uint64, lo, hi int) {
	first, last := lo>>6, (hi-1)>>6
	fm, lm := ^uint64(0)<<(lo&63), ^uint64(0)>>(63-(hi-1)&63)
	if first == last {
		b[first] |= fm & lm
		return
	}
	b[first] |= fm
	b[last] |= lm
	for w := first + 1; w < last; w++ {
		b[w] = ^uint64(0)
	}
}

// Now returns the time read by the last Tick.
func (ra *Reassembler) Now() time.Time { return ra.t }

// Active returns the number of frames being reassembled.
func (ra *Reassembler) Active() int { return ra.active }

// CheckInvariants returns an error if the slot accounting is broken: a slot
// with more bytes than its total, a total over frame.MaxSuperFrameSize, or
// an active count that disagrees with the slots in use. For tests.
func (ra *Reassembler) CheckInvariants() error {
	n := 0
	for i := range ra.slots {
		if s := &ra.slots[i]; s.inUse {
			n++
			if s.got > s.total || s.total > frame.MaxSuperFrameSize {
				return fmt.Errorf("slot %d: %d of %d bytes", i, s.got, s.total)
			}
		}
	}
	if n != ra.active {
		return fmt.Errorf("%d slots in use, active = %d", n, ra.active)
	}
	return nil
}
