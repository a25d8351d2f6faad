package sleeve

import (
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/reassembly"
)

// Reassembly limits: each ReceiveFunc has reassemblySlots slots, each with
// a bitmap of one bit per byte (256 KiB in all) and, while it reassembles a
// frame, a buffer of frame.MaxSuperFrameSize bytes from the ReceiveFunc's
// pool: the buffers are made the first time so many frames are in
// fragments at once (2 MiB at most), none while nothing is fragmented.
const (
	reassemblySlots   = reassembly.DefaultSlots
	reassemblyTimeout = reassembly.DefaultTimeout
)

// FrameDrop says why a frame (or, for the fragment reasons, one fragment)
// was dropped on the receive side although its datagrams were well formed.
type FrameDrop = reassembly.Drop

// Reasons for dropping frames and fragments, indexes of Stats.FrameDrops.
const (
	FrameDropEvicted      = reassembly.DropEvicted      // a reassembly evicted for a newer frame: all slots busy
	FrameDropTimeout      = reassembly.DropTimeout      // a reassembly untouched for more than 1 s
	FrameDropDuplicate    = reassembly.DropDuplicate    // a fragment whose bytes had all arrived already (fragments, not frames)
	FrameDropOverlap      = reassembly.DropOverlap      // a fragment overlapping bytes already there (fragments, not frames)
	FrameDropInconsistent = reassembly.DropInconsistent // a reassembly replaced by a fragment of the same id with another total or Meta
	FrameDropTooBig       = reassembly.DropTooBig       // a frame bigger than the caller's batch buffer
	NumFrameDrops         = reassembly.NumDrops
)

// reassembler is the shared reassembler, its fragments keyed by the
// sleeve's underlay sender, datagram sender and frame id.
type reassembler struct {
	*reassembly.Reassembler
}

func newReassembler(n int, now func() time.Time, stats *counters) *reassembler {
	return &reassembler{reassembly.NewPooled(n, reassembly.NewPool(n), now, &stats.frameDrops)}
}

// add files fragment f (checked by a Reader) from the underlay address
// from; see reassembly.Reassembler.Add.
func (ra *reassembler) add(from netip.AddrPort, f *Fragment) (fr []byte, meta frame.Meta, slot int, ok bool) {
	rf := reassembly.Fragment{
		Key:  reassembly.Key{From: from, Sender: f.Meta.Via, ID: f.ID},
		Meta: f.Meta, Offset: f.Offset, Total: f.Total, Data: f.Data,
	}
	return ra.Add(&rf)
}
