package sleeve

import (
	"github.com/weave-switch/weave-switch/internal/reassembly"
	"github.com/weave-switch/weave-switch/transport"
)

// Report implements transport.Reporter: the counters, the datagrams
// dropped by reason (malformed, unauthentic, replayed) and the frames
// and fragments the reassembly dropped ("reassembly_" and its reason).
func (s *Sleeve) Report() transport.Report {
	st := s.Stats()
	r := transport.Report{Name: "sleeve", PathMTU: st.PathMTU,
		Counters: map[string]uint64{
			"sent_frames": st.SentFrames, "sent_datagrams": st.SentDatagrams, "sent_bytes": st.SentBytes,
			"received_frames": st.ReceivedFrames, "received_datagrams": st.ReceivedDatagrams, "received_bytes": st.ReceivedBytes,
			"sent_fragments": st.SentFragments, "received_fragments": st.ReceivedFragments, "reassembled": st.Reassembled,
			"gso_sends": st.GSOSends, "gso_errors": st.GSOErrors, "gro_receives": st.GROReceives, "pmtu_updates": st.PMTUUpdates,
		},
		Drops: map[string]uint64{},
	}
	for i, n := range st.Dropped {
		r.Drops[DropReason(i).String()] = n
	}
	for i, n := range st.FrameDrops {
		r.Drops["reassembly_"+reassembly.Drop(i).String()] = n
	}
	return r
}
