//go:build !linux

package sleeve

import (
	"net"
	"net/netip"
)

// defaultBatchSize is Config.BatchSize's default: without recvmmsg and
// sendmmsg there is nothing to gain from big batches (STYLE rule 7).
const defaultBatchSize = 1

// batchReader reads one datagram per call, with ReadFromUDPAddrPort.
type batchReader struct {
	conn *net.UDPConn
	bufs [][]byte
	n    int
	from netip.AddrPort
}

func newBatchReader(conn *net.UDPConn, bufs [][]byte, _ bool) (*batchReader, error) {
	return &batchReader{conn: conn, bufs: bufs}, nil
}

func (r *batchReader) read() (int, error) {
	n, from, err := r.conn.ReadFromUDPAddrPort(r.bufs[0])
	if err != nil {
		return 0, err
	}
	r.n, r.from = n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	return 1, nil
}

func (r *batchReader) size(int) int { return r.n }

func (r *batchReader) addr(int) netip.AddrPort { return r.from }

func (r *batchReader) truncated(int) bool { return r.n > len(r.bufs[0]) }

func (r *batchReader) segSize(int) int { return 0 }

// setSocketBuffers sets the buffer sizes; the sizes actually granted are
// not known here and reported as 0.
func setSocketBuffers(conn *net.UDPConn, size int) (rcv, snd int, err error) {
	if size > 0 {
		_ = conn.SetReadBuffer(size)
		_ = conn.SetWriteBuffer(size)
	}
	return 0, 0, nil
}
