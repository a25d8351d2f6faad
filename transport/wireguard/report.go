package wireguard

import "github.com/weave-switch/weave-switch/transport"

// Report implements transport.Reporter.
func (t *Transport) Report() transport.Report {
	v := t.Stats().Snapshot()
	r := transport.Report{Name: "wireguard",
		Counters: map[string]uint64{
			"tx_frames": v.TxFrames, "tx_fragments": v.TxFragments,
			"rx_frames": v.RxFrames, "rx_fragments": v.RxFragments, "reassembled": v.Reassembled,
			"handshake_initiations": v.Initiations,
		},
		Drops: map[string]uint64{
			"tx_queue_full": v.TxDropped, "tx_too_big": v.TxTooBig, "tx_awaiting_handshake": v.TxAwaiting, "rx_queue_full": v.RxDropped,
			"malformed": v.RxMalformed, "rx_too_big": v.RxTooBig,
		},
	}
	for reason, n := range v.FrameDrops {
		r.Drops["reassembly_"+reason] = n
	}
	return r
}
