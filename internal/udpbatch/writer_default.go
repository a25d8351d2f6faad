//go:build !linux

package udpbatch

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Writer sends one datagram per call where sendmmsg and UDP GSO are not
// available (see writer_linux.go).
type Writer struct{ conn *net.UDPConn }

// Sent is what a WriteBatch did (see writer_linux.go); without GSO only
// Datagrams is set.
type Sent struct {
	Datagrams   int
	GSOMessages int
	GSOErr      error
	GSOOff      bool
}

// NewWriter returns a Writer for conn; n and gso are unused here.
func NewWriter(conn *net.UDPConn, n int, gso *atomic.Bool) (*Writer, error) {
	return &Writer{conn: conn}, nil
}

// Write sends bufs to dst, one datagram each.
func (w *Writer) Write(bufs [][]byte, dst netip.AddrPort) error {
	_, err := w.WriteBatch(bufs, nil, dst)
	return err
}

// WriteBatch sends bufs to dst, one datagram each, and reports how many
// went out; inert is unused here.
func (w *Writer) WriteBatch(bufs [][]byte, inert []bool, dst netip.AddrPort) (Sent, error) {
	var s Sent
	for _, b := range bufs {
		if _, err := w.conn.WriteToUDPAddrPort(b, dst); err != nil {
			return s, err
		}
		s.Datagrams++
	}
	return s, nil
}
