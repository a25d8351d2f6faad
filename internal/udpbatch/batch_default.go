//go:build !linux

package udpbatch

import (
	"net"
	"net/netip"
)

// DefaultBatchSize is the batch size transports default to: without
// recvmmsg and sendmmsg there is nothing to gain from big batches.
const DefaultBatchSize = 1

// Reader reads one datagram per call, with ReadFromUDPAddrPort.
type Reader struct {
	conn *net.UDPConn
	bufs [][]byte
	n    int
	from netip.AddrPort
}

func NewReader(conn *net.UDPConn, bufs [][]byte, _ bool) (*Reader, error) {
	return &Reader{conn: conn, bufs: bufs}, nil
}

// NewReaderControl is NewReader: no control messages outside Linux.
func NewReaderControl(conn *net.UDPConn, bufs [][]byte, _ int) (*Reader, error) {
	return NewReader(conn, bufs, false)
}

func (r *Reader) Read() (int, error) {
	n, from, err := r.conn.ReadFromUDPAddrPort(r.bufs[0])
	if err != nil {
		return 0, err
	}
	r.n, r.from = n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	return 1, nil
}

// ReadInto is Read into bufs[0].
func (r *Reader) ReadInto(bufs [][]byte) (int, error) {
	r.bufs = bufs[:1]
	return r.Read()
}

func (r *Reader) Size(int) int { return r.n }

func (r *Reader) Addr(int) netip.AddrPort { return r.from }

func (r *Reader) Truncated(int) bool { return r.n > len(r.bufs[0]) }

func (r *Reader) SegSize(int) int { return 0 }

func (r *Reader) Control(int) []byte { return nil }

// SetSocketBuffers sets the buffer sizes; the sizes actually granted are
// not known here and reported as 0.
func SetSocketBuffers(conn *net.UDPConn, size int) (rcv, snd int, err error) {
	if size > 0 {
		_ = conn.SetReadBuffer(size)
		_ = conn.SetWriteBuffer(size)
	}
	return 0, 0, nil
}
