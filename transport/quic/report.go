package quictransport

import (
	"github.com/weave-switch/weave-switch/internal/reassembly"
	"github.com/weave-switch/weave-switch/transport"
)

// Report implements transport.Reporter. quic-go's own silent drops are
// under quic_receive_queue and quic_send; the receive gate's waits and
// resets are counters.
func (t *Transport) Report() transport.Report {
	v := t.Stats()
	r := transport.Report{Name: "quic",
		Counters: map[string]uint64{
			"frames_sent": v.FramesSent, "datagrams_sent": v.DatagramsSent, "fragmented": v.Fragmented,
			"frames_received": v.FramesReceived, "connects": v.Connects, "dial_errors": v.DialErrors,
			"refused": v.Refused, "pmtu_resets": v.PMTUResets, "gate_waits": v.GateWaits, "gate_resets": v.GateResets,
		},
		Drops: map[string]uint64{
			"no_peer": v.DropNoPeer, "no_connection": v.DropNoConn, "too_large": v.DropTooLarge,
			"send_error": v.DropSendError, "malformed": v.DropMalformed,
			"queue_full": v.DropQueueFull, "too_big": v.DropTooBig,
			"quic_receive_queue": v.DropQUICReceive, "quic_send": v.DropQUICSend,
		},
	}
	for i, n := range v.FrameDrops {
		r.Drops["reassembly_"+reassembly.Drop(i).String()] = n
	}
	return r
}
