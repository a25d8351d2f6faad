package sleeve

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// Reassembly limits: each ReceiveFunc owns reassemblySlots buffers of
// frame.MaxSuperFrameSize bytes (2 MiB) plus a bitmap of one bit per byte
// for each (256 KiB).
const (
	reassemblySlots   = 32
	reassemblyTimeout = time.Second
	bitmapWords       = (frame.MaxSuperFrameSize + 63) / 64
)

// FrameDrop says why a frame (or, for the fragment reasons, one fragment)
// was dropped on the receive side although its datagrams were well formed.
type FrameDrop uint8

// Reasons for dropping frames and fragments, indexes of Stats.FrameDrops.
const (
	FrameDropEvicted      FrameDrop = iota // a reassembly evicted for a newer frame: all slots busy
	FrameDropTimeout                       // a reassembly untouched for more than 1 s
	FrameDropDuplicate                     // a fragment whose bytes had all arrived already (fragments, not frames)
	FrameDropOverlap                       // a fragment overlapping bytes already there (fragments, not frames)
	FrameDropInconsistent                  // a reassembly replaced by a fragment of the same id with another total or Meta
	FrameDropTooBig                        // a frame bigger than the caller's batch buffer
	NumFrameDrops
)

var frameDropNames = [NumFrameDrops]string{"evicted", "timeout", "duplicate", "overlap", "inconsistent", "too-big"}

// String returns a short name for d, usable as a metric label.
func (d FrameDrop) String() string {
	if d < NumFrameDrops {
		return frameDropNames[d]
	}
	return fmt.Sprintf("FrameDrop(%d)", uint8(d))
}

// fragKey identifies the frame a fragment belongs to.
type fragKey struct {
	from   netip.AddrPort // underlay sender
	sender frame.PeerName // datagram sender
	id     uint32
}

// reassembly is one frame being put together.
type reassembly struct {
	key     fragKey
	inUse   bool
	meta    frame.Meta
	total   int
	got     int // bytes received
	touched time.Time
	seq     uint64 // of the last touch: the least is evicted first
	buf     []byte // frame.MaxSuperFrameSize bytes
	have    []uint64
}

// reassembler puts fragmented frames back together in a fixed pool of
// slots. It allocates nothing after newReassembler and is used by one
// goroutine (its receiver).
type reassembler struct {
	slots   []reassembly
	active  int
	last    int // slot of the last fragment, tried first
	seq     uint64
	now     func() time.Time
	t       time.Time // time of the current receive, set by tick
	stats   *counters
	timeout time.Duration
}

func newReassembler(n int, now func() time.Time, stats *counters) *reassembler {
	ra := &reassembler{slots: make([]reassembly, n), now: now, stats: stats, timeout: reassemblyTimeout}
	bufs := make([]byte, n*frame.MaxSuperFrameSize)
	bits := make([]uint64, n*bitmapWords)
	for i := range ra.slots {
		s := &ra.slots[i]
		s.buf = bufs[i*frame.MaxSuperFrameSize : (i+1)*frame.MaxSuperFrameSize : (i+1)*frame.MaxSuperFrameSize]
		s.have = bits[i*bitmapWords : (i+1)*bitmapWords : (i+1)*bitmapWords]
	}
	return ra
}

// tick reads the clock for the fragments of one receive and discards the
// reassemblies untouched for more than the timeout.
func (ra *reassembler) tick() {
	ra.t = ra.now()
	if ra.active == 0 {
		return
	}
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.inUse && ra.t.Sub(s.touched) > ra.timeout {
			ra.free(i, FrameDropTimeout)
		}
	}
}

func (ra *reassembler) free(i int, why FrameDrop) {
	ra.slots[i].inUse = false
	ra.active--
	ra.stats.frameDrops[why].Add(1)
}

// add files fragment f (checked by a Reader) from the underlay address
// from. When f completes a frame it returns the frame and its Meta with
// ok: the frame aliases slot's buffer until release(slot) (slot is -1 for
// a frame that came whole in f, which then aliases f.Data).
func (ra *reassembler) add(from netip.AddrPort, f *Fragment) (fr []byte, meta frame.Meta, slot int, ok bool) {
	if f.Offset == 0 && len(f.Data) == f.Total {
		return f.Data, f.Meta, -1, true
	}
	key := fragKey{from: from, sender: f.Meta.Via, id: f.ID}
	i := ra.find(key)
	if i >= 0 {
		if s := &ra.slots[i]; s.total != f.Total || s.meta != f.Meta {
			// Not the frame we have: a sender that restarted and reuses
			// ids, or garbage. The newer fragment wins.
			ra.free(i, FrameDropInconsistent)
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
			ra.stats.frameDrops[FrameDropDuplicate].Add(1)
		} else {
			ra.stats.frameDrops[FrameDropOverlap].Add(1)
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

// release frees the slot of a frame add completed.
func (ra *reassembler) release(slot int) {
	if slot >= 0 && ra.slots[slot].inUse {
		ra.slots[slot].inUse = false
		ra.active--
	}
}

func (ra *reassembler) find(key fragKey) int {
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
func (ra *reassembler) alloc() int {
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
	ra.free(oldest, FrameDropEvicted)
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
