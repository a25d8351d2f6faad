package quictransport

import (
	"sync/atomic"

	"github.com/weave-switch/weave-switch/internal/reassembly"
)

// Stats are the Transport's counters since New. Every frame dropped is
// counted under exactly one Drop reason.
type Stats struct {
	FramesSent     uint64 // frames handed to quic-go whole or in fragments
	DatagramsSent  uint64 // DATAGRAM frames handed to quic-go (fragments included)
	Fragmented     uint64 // frames sent as fragments
	FramesReceived uint64 // frames returned by the ReceiveFunc
	Connects       uint64 // connections established (dialed or accepted)
	DialErrors     uint64 // failed dials (refused, timed out, pin mismatch)
	Refused        uint64 // handshakes refused by the pin check, either side
	PMTUResets     uint64 // connections closed because the path MTU shrank under them
	GateWaits      uint64 // times the receive gate held quic-go's socket reader back
	GateResets     uint64 // times the gate halved its count after a stall (drift)

	DropNoPeer     uint64 // send: no peer added at the endpoint
	DropNoConn     uint64 // send: peer added but no connection up
	DropTooLarge   uint64 // send: quic-go's datagram maximum too small even for a fragment
	DropSendError  uint64 // send: connection closed under SendDatagram
	DropMalformed  uint64 // receive: datagram header invalid
	DropReassembly uint64 // receive: fragments and frames the reassembly dropped (FrameDrops has them by reason)
	DropQueueFull  uint64 // receive: receive queue full
	DropTooBig     uint64 // receive: frame bigger than the caller's buffer
	// quic-go's own silent drops, counted from its qlog events:
	DropQUICReceive uint64 // receive: quic-go's 128-datagram queue was full
	DropQUICSend    uint64 // send: a queued datagram no longer fit a packet

	// FrameDrops counts by reason (reassembly.Drop) the fragments and
	// frames the reassembly dropped; DropReassembly is their sum.
	FrameDrops [reassembly.NumDrops]uint64
}

type stats struct {
	framesSent, datagramsSent, fragmented, framesReceived atomic.Uint64
	connects, dialErrors, refused, pmtuResets             atomic.Uint64
	dropNoPeer, dropNoConn, dropTooLarge, dropSendError   atomic.Uint64
	dropMalformed, dropQueueFull, dropTooBig              atomic.Uint64
	dropQUICReceive, dropQUICSend                         atomic.Uint64
	frameDrops                                            reassembly.Drops
}

// Stats returns a snapshot of the counters. Safe for concurrent use.
func (t *Transport) Stats() Stats {
	s := &t.stats
	out := Stats{
		GateWaits: t.gate.waits.Load(), GateResets: t.gate.resets.Load(),
		FramesSent: s.framesSent.Load(), DatagramsSent: s.datagramsSent.Load(),
		Fragmented: s.fragmented.Load(), FramesReceived: s.framesReceived.Load(),
		Connects: s.connects.Load(), DialErrors: s.dialErrors.Load(), Refused: s.refused.Load(), PMTUResets: s.pmtuResets.Load(),
		DropNoPeer: s.dropNoPeer.Load(), DropNoConn: s.dropNoConn.Load(),
		DropTooLarge: s.dropTooLarge.Load(), DropSendError: s.dropSendError.Load(),
		DropMalformed: s.dropMalformed.Load(),
		DropQueueFull: s.dropQueueFull.Load(), DropTooBig: s.dropTooBig.Load(),
		DropQUICReceive: s.dropQUICReceive.Load(), DropQUICSend: s.dropQUICSend.Load(),
	}
	for i := range s.frameDrops {
		out.FrameDrops[i] = s.frameDrops[i].Load()
		out.DropReassembly += out.FrameDrops[i]
	}
	return out
}
