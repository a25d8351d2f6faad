//go:build !(linux && (amd64 || arm64 || riscv64 || ppc64le || s390x || loong64))

package udpbatch

import (
	"net"
	"net/netip"
	"sync/atomic"
)

// Writer sends one datagram per call where sendmmsg and UDP GSO are not
// available (see writer_linux.go).
type Writer struct{ conn *net.UDPConn }

// NewWriter returns a Writer for conn; n and gso are unused here.
func NewWriter(conn *net.UDPConn, n int, gso *atomic.Bool) (*Writer, error) {
	return &Writer{conn: conn}, nil
}

// Write sends bufs to dst, one datagram each.
func (w *Writer) Write(bufs [][]byte, dst netip.AddrPort) error {
	for _, b := range bufs {
		if _, err := w.conn.WriteToUDPAddrPort(b, dst); err != nil {
			return err
		}
	}
	return nil
}
