package quictransport

import (
	"context"
	"sync"

	quic "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// Every connection gets a qlog trace that writes nothing and listens for
// two events quic-go reports in no other way:
//
//   - quic:datagram_dropped: quic-go drops a received DATAGRAM when its
//     128-frame queue is full, and a queued one that no longer fits a
//     packet; both are counted by direction (Stats.DropQUICReceive,
//     Stats.DropQUICSend).
//   - the handshake becoming confirmed on a dialed connection. quic-go's
//     Dial returns when the client's handshake is complete, before the
//     server has checked the client's certificate (TLS 1.3 sends it last);
//     the server confirms with HANDSHAKE_DONE only after its pin check
//     passed. The dialer attaches the link only then, so a server that
//     refuses our certificate never has a link, not even for a round trip.
//
// quic-go builds an event value per packet for a trace (about 8 small
// allocations per frame); the trace ignores all but these two.

// confirmKey is the dial context's key for the channel closed when the
// handshake is confirmed.
type confirmKey struct{}

type trace struct {
	s       *stats
	confirm chan struct{} // nil on accepted connections
	once    *sync.Once
}

func (t *Transport) tracer(ctx context.Context, isClient bool, _ quic.ConnectionID) qlogwriter.Trace {
	tr := trace{s: &t.stats}
	if c, ok := ctx.Value(confirmKey{}).(chan struct{}); ok && isClient {
		tr.confirm, tr.once = c, new(sync.Once)
	}
	return tr
}

func (t trace) AddProducer() qlogwriter.Recorder { return t }

func (t trace) RecordEvent(ev qlogwriter.Event) {
	switch e := ev.(type) {
	case qlog.DatagramDropped:
		if e.Direction == qlog.DirectionReceiving {
			t.s.dropQUICReceive.Add(1)
		} else {
			t.s.dropQUICSend.Add(1)
		}
	case qlog.ConnectionStateUpdated:
		if e.State == qlog.ConnectionStateHandshakeConfirmed && t.confirm != nil {
			t.once.Do(func() { close(t.confirm) })
		}
	}
}

func (t trace) Close() error { return nil }
