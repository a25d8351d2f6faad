package sleeve

import (
	"sync/atomic"

	"github.com/weave-switch/weave-switch/internal/reassembly"
)

// Stats are a Sleeve's counters since New. Bytes are UDP payload bytes;
// datagrams are UDP datagrams on the wire (a GSO send of n segments counts
// n, a GRO receive of n segments counts n).
type Stats struct {
	SentFrames, SentDatagrams, SentBytes             uint64
	ReceivedFrames, ReceivedDatagrams, ReceivedBytes uint64
	// SentFragments and ReceivedFragments count fragment datagrams, of
	// frames too big for one datagram; Reassembled counts the frames put
	// back together from them.
	SentFragments, ReceivedFragments, Reassembled uint64
	// GSOSends counts send messages that carried a UDP_SEGMENT control
	// message (several datagrams in one skb); GSOErrors counts those the
	// kernel refused, whose datagrams were sent again one by one.
	GSOSends, GSOErrors uint64
	// PMTUUpdates counts path MTUs learned below UnderlayMTU (after a GSO
	// send failed with EMSGSIZE); PathMTU lists the live ones by peer
	// address.
	PMTUUpdates uint64
	PathMTU     map[string]int `json:",omitempty"`
	// GROReceives counts receive buffers the kernel filled with several
	// datagrams (a UDP_GRO control message).
	GROReceives uint64
	// GSO reports whether sends use UDP GSO (false if the kernel lacks it,
	// it was disabled, or it failed and was turned off); GRO whether UDP
	// GRO is enabled on the socket. Both are set by Open.
	GSO, GRO bool
	// Dropped counts received datagrams dropped as malformed, by reason.
	Dropped [NumDropReasons]uint64
	// FrameDrops counts frames (and fragments, for the fragment reasons)
	// of well-formed datagrams dropped on receive, by reason.
	FrameDrops [NumFrameDrops]uint64
	// RecvBuffer and SendBuffer are the socket buffer sizes the kernel
	// reports after Open (Linux doubles the requested value); 0 if
	// unknown.
	RecvBuffer, SendBuffer int
}

// DroppedTotal returns the number of dropped datagrams, all reasons.
func (s *Stats) DroppedTotal() uint64 {
	var t uint64
	for _, n := range s.Dropped {
		t += n
	}
	return t
}

type counters struct {
	sentFrames, sentDatagrams, sentBytes             atomic.Uint64
	receivedFrames, receivedDatagrams, receivedBytes atomic.Uint64
	sentFragments, receivedFragments, reassembled    atomic.Uint64
	gsoSends, gsoErrors, groReceives                 atomic.Uint64
	pmtuUpdates                                      atomic.Uint64
	gso, gro                                         atomic.Bool
	dropped                                          [NumDropReasons]atomic.Uint64
	frameDrops                                       reassembly.Drops
	recvBuffer, sendBuffer                           atomic.Int64
}

func (c *counters) snapshot() Stats {
	s := Stats{
		SentFrames:        c.sentFrames.Load(),
		SentDatagrams:     c.sentDatagrams.Load(),
		SentBytes:         c.sentBytes.Load(),
		ReceivedFrames:    c.receivedFrames.Load(),
		ReceivedDatagrams: c.receivedDatagrams.Load(),
		ReceivedBytes:     c.receivedBytes.Load(),
		SentFragments:     c.sentFragments.Load(),
		ReceivedFragments: c.receivedFragments.Load(),
		Reassembled:       c.reassembled.Load(),
		GSOSends:          c.gsoSends.Load(),
		GSOErrors:         c.gsoErrors.Load(),
		PMTUUpdates:       c.pmtuUpdates.Load(),
		GROReceives:       c.groReceives.Load(),
		GSO:               c.gso.Load(),
		GRO:               c.gro.Load(),
		RecvBuffer:        int(c.recvBuffer.Load()),
		SendBuffer:        int(c.sendBuffer.Load()),
	}
	for i := range c.dropped {
		s.Dropped[i] = c.dropped[i].Load()
	}
	for i := range c.frameDrops {
		s.FrameDrops[i] = c.frameDrops[i].Load()
	}
	return s
}
