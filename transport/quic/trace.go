package quictransport

import (
	"context"

	quic "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// quic-go drops DATAGRAM frames silently in two places: a received one
// when its 128-frame queue is full, and a queued one that no longer fits a
// packet. It reports both only as qlog events, so every connection gets a
// trace that writes nothing and counts quic:datagram_dropped events by
// direction (Stats.DropQUICReceive, Stats.DropQUICSend), ignoring every
// other event. quic-go then builds an event value, which allocates, for
// every packet and frame it sends and receives (see Allocations in the
// package doc): the price of an exact count of these drops.

type trace struct{ s *stats }

func (t *Transport) tracer(context.Context, bool, quic.ConnectionID) qlogwriter.Trace {
	return trace{&t.stats}
}

func (t trace) AddProducer() qlogwriter.Recorder { return t }

func (t trace) RecordEvent(ev qlogwriter.Event) {
	if e, ok := ev.(qlog.DatagramDropped); ok {
		if e.Direction == qlog.DirectionReceiving {
			t.s.dropQUICReceive.Add(1)
		} else {
			t.s.dropQUICSend.Add(1)
		}
	}
}

func (t trace) Close() error { return nil }
