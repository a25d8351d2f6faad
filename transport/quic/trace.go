package quictransport

import (
	"context"

	quic "github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/qlog"
	"github.com/quic-go/quic-go/qlogwriter"
)

// quic-go drops DATAGRAM frames silently in two places: a received one
// when its 128-frame queue is full, and one to send that no longer fits a
// packet. It reports both only as qlog events, so every connection gets a
// trace whose recorder counts quic:datagram_dropped events by direction
// (Stats.DropQUICReceive, Stats.DropQUICSend) and ignores every other
// event; nothing is written anywhere.

// dropCounter is a qlogwriter.Trace and Recorder that counts dropped
// datagrams.
type dropCounter struct{ s *stats }

func (t *Transport) tracer(context.Context, bool, quic.ConnectionID) qlogwriter.Trace {
	return dropCounter{&t.stats}
}

func (c dropCounter) AddProducer() qlogwriter.Recorder { return c }

func (c dropCounter) RecordEvent(ev qlogwriter.Event) {
	if d, ok := ev.(qlog.DatagramDropped); ok {
		if d.Direction == qlog.DirectionReceiving {
			c.s.dropQUICReceive.Add(1)
		} else {
			c.s.dropQUICSend.Add(1)
		}
	}
}

func (c dropCounter) Close() error { return nil }
