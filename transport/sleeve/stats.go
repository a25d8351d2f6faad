package sleeve

import "sync/atomic"

// Stats are a Sleeve's counters since New. Bytes are UDP payload bytes.
type Stats struct {
	SentFrames, SentDatagrams, SentBytes             uint64
	ReceivedFrames, ReceivedDatagrams, ReceivedBytes uint64
	// Dropped counts received datagrams dropped as malformed, by reason.
	Dropped [NumDropReasons]uint64
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
	dropped                                          [NumDropReasons]atomic.Uint64
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
		RecvBuffer:        int(c.recvBuffer.Load()),
		SendBuffer:        int(c.sendBuffer.Load()),
	}
	for i := range c.dropped {
		s.Dropped[i] = c.dropped[i].Load()
	}
	return s
}
