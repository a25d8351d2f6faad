// Package reassembly puts frames that a transport carried in several
// pieces (cut by internal/fragment) back together: a fixed set of slots,
// each a buffer of frame.MaxSuperFrameSize bytes with a bitmap of the
// bytes received, so fragments may arrive in any order, duplicates and
// overlaps are refused, and a flood of incomplete frames evicts only the
// least recently touched reassembly. The sleeve, WireGuard and QUIC
// transports share it.
//
// A Reassembler made by New owns one buffer per slot, and a completed
// frame stays in its slot until Release: for a receiver that copies it
// out at once. One made by NewPooled draws a slot's buffer from a Pool
// when a reassembly starts and gives it back when it ends; Take hands a
// completed frame's buffer to the caller, who puts it back in the Pool
// once done with it: for a receiver that queues frames to another
// goroutine. Neither allocates after it is made (a Pool allocates up to
// its limit of buffers, lazily).
package reassembly

import (
	"fmt"
	"net/netip"
	"sync"
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
	DropNoBuffer                 // a fragment that would start a reassembly while its Pool is empty
	NumDrops
)

// Drops counts drops by reason.
type Drops [NumDrops]atomic.Uint64

var dropNames = [NumDrops]string{"evicted", "timeout", "duplicate", "overlap", "inconsistent", "too-big", "no-buffer"}

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
	buf     *Buf   // nil in a free slot of a pooled Reassembler
	have    []uint64
}

// Buf is the buffer a frame is reassembled in.
type Buf = [frame.MaxSuperFrameSize]byte

// Pool is a bounded free list of Bufs, allocated as needed up to its
// limit, shared by pooled Reassemblers and the holders of the frames they
// completed. It is safe for concurrent use.
type Pool struct {
	mu    sync.Mutex
	free  []*Buf
	made  int
	limit int
}

// NewPool returns a Pool of at most limit buffers.
func NewPool(limit int) *Pool { return &Pool{free: make([]*Buf, 0, limit), limit: limit} }

// Get returns a buffer, or nil if all limit buffers are out.
func (p *Pool) Get() *Buf {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	if p.made == p.limit {
		return nil
	}
	p.made++
	return new(Buf)
}

// Put gives back a buffer from Get (or Take); nil is ignored.
func (p *Pool) Put(b *Buf) {
	if b == nil {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
}

// Reassembler puts fragmented frames back together in a fixed set of
// slots. It allocates nothing once each slot has been used (a slot makes
// its bitmap on its first fragment) and is used by one goroutine (its
// receiver).
type Reassembler struct {
	pool    *Pool // nil: each slot owns its buffer
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
	ra := newReassembler(n, now, drops)
	bufs := make([]Buf, n)
	for i := range ra.slots {
		ra.slots[i].buf = &bufs[i]
	}
	return ra
}

// NewPooled is New for a Reassembler whose slots take their buffers from
// pool while they reassemble a frame.
func NewPooled(n int, pool *Pool, now func() time.Time, drops *Drops) *Reassembler {
	ra := newReassembler(n, now, drops)
	ra.pool = pool
	return ra
}

func newReassembler(n int, now func() time.Time, drops *Drops) *Reassembler {
	return &Reassembler{slots: make([]reassembly, n), now: now, drops: drops, timeout: DefaultTimeout}
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
	ra.release(i)
	ra.drops[why].Add(1)
}

// release frees slot i, in use, and gives its buffer back to the pool.
func (ra *Reassembler) release(i int) {
	s := &ra.slots[i]
	s.inUse = false
	ra.active--
	if ra.pool != nil {
		ra.pool.Put(s.buf)
		s.buf = nil
	}
}

// Add files fragment f. When f completes a frame it returns the frame and
// its Meta with ok: the frame aliases slot's buffer until Release(slot) or
// Take(slot) (slot is -1 for a frame that came whole in f, which then
// aliases f.Data).
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
		if ra.pool != nil {
			if s.buf = ra.pool.Get(); s.buf == nil {
				ra.drops[DropNoBuffer].Add(1)
				return nil, frame.Meta{}, 0, false
			}
		}
		s.key, s.inUse, s.meta, s.total, s.got = key, true, f.Meta, f.Total, 0
		if s.have == nil {
			// A slot's bitmap (8 KiB) is made the first time it is
			// used: most routers never see a fragment.
			s.have = make([]uint64, bitmapWords)
		} else {
			clear(s.have[:(f.Total+63)/64])
		}
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

// Release frees the slot of a frame Add completed (a no-op for slot -1).
func (ra *Reassembler) Release(slot int) {
	if slot >= 0 && ra.slots[slot].inUse {
		ra.release(slot)
	}
}

// Take frees the slot of a frame Add completed and hands its buffer to
// the caller, who puts it back in the Pool once done with the frame. It
// returns nil for slot -1, and panics unless ra was made by NewPooled.
func (ra *Reassembler) Take(slot int) *Buf {
	if ra.pool == nil {
		panic("reassembly: Take on a Reassembler without a Pool")
	}
	if slot < 0 || !ra.slots[slot].inUse {
		return nil
	}
	s := &ra.slots[slot]
	b := s.buf
	s.buf, s.inUse = nil, false
	ra.active--
	return b
}

// Reset abandons every reassembly in progress, uncounted, giving the
// buffers back to the pool: for a receiver that stops.
func (ra *Reassembler) Reset() {
	for i := range ra.slots {
		if ra.slots[i].inUse {
			ra.release(i)
		}
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
// with more bytes than its total, a total over frame.MaxSuperFrameSize, a
// slot in use without a buffer, a pooled slot holding one while free, or
// an active count that disagrees with the slots in use. For tests.
func (ra *Reassembler) CheckInvariants() error {
	n := 0
	for i := range ra.slots {
		s := &ra.slots[i]
		if s.inUse {
			n++
			if s.got > s.total || s.total > frame.MaxSuperFrameSize {
				return fmt.Errorf("slot %d: %d of %d bytes", i, s.got, s.total)
			}
		}
		if (s.buf == nil && (s.inUse || ra.pool == nil)) || (s.buf != nil && !s.inUse && ra.pool != nil) {
			return fmt.Errorf("slot %d: in use %v, buffer %v", i, s.inUse, s.buf != nil)
		}
	}
	if n != ra.active {
		return fmt.Errorf("%d slots in use, active = %d", n, ra.active)
	}
	return nil
}
