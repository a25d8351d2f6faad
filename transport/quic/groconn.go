package quictransport

import (
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"

	"github.com/weave-switch/weave-switch/internal/udpbatch"
)

// groConn is the UDP socket quic-go is given, with receive offload.
//
// quic-go reads a socket with recvmmsg, eight packets per call, one
// kernel buffer per packet, and never turns UDP_GRO on. When a socket
// already has a ReadBatch method, quic-go reads through it and still
// sends through the socket itself, with GSO, ECN and packet info. groConn
// is that method: it turns UDP_GRO on and reads up to groMessages
// coalesced messages (a sender's whole GSO batch, up to 64 KiB, arrives as
// one message: on a veth or loopback path the kernel never splits it) with
// one recvmmsg, then hands quic-go the packets one by one, copied into
// the buffers quic-go passes in, with each message's control messages
// (TOS for ECN, packet info) so nothing quic-go reads changes.
//
// ReadBatch waits at the receive gate (gate.go) before it hands quic-go
// more packets. Sending goes straight through the embedded *net.UDPConn.
// groConn is not safe for concurrent ReadBatch calls; quic-go has one
// reader per socket.
type groConn struct {
	*net.UDPConn
	r    *udpbatch.Reader
	bufs [][]byte
	gate *rxGate

	n   int // messages of the last read
	i   int // the message being handed out
	off int // its next packet starts here
	seg int // its packet size (GRO segment size; the last may be shorter)

	// last sender, so that a run of packets from one peer shares one
	// *net.UDPAddr (quic-go never modifies them)
	from     netip.AddrPort
	fromAddr *net.UDPAddr
}

const (
	// groMessages is how many coalesced messages one recvmmsg reads.
	groMessages = 8
	// groControl is room for the control messages quic-go turns on (IPv4
	// and IPv6 TOS/traffic class and packet info) and UDP_GRO's.
	groControl = 128
)

// newGROConn returns udp wrapped in a groConn, or udp itself where the
// kernel has no UDP_GRO (quic-go then reads it its own way).
func newGROConn(udp *net.UDPConn, gate *rxGate) net.PacketConn {
	if _, gro := udpbatch.SetupOffloads(udp, false, true); !gro {
		return udp
	}
	c := &groConn{UDPConn: udp, bufs: make([][]byte, groMessages), gate: gate}
	for i := range c.bufs {
		c.bufs[i] = make([]byte, 1<<16)
	}
	r, err := udpbatch.NewReaderControl(udp, c.bufs, groControl)
	if err != nil {
		return udp
	}
	c.r = r
	return c
}

// ReadBatch is ipv4.PacketConn's ReadBatch as quic-go uses it: it blocks
// until at least one packet is there and fills ms[k].Buffers[0], N, OOB,
// NN, Flags and Addr for as many packets as it returns.
func (c *groConn) ReadBatch(ms []ipv4.Message, _ int) (int, error) {
	c.gate.wait(len(ms))
	for c.i >= c.n {
		n, err := c.r.Read()
		if err != nil {
			return 0, err
		}
		c.n, c.i, c.off = n, 0, 0
	}
	k, counted := 0, 0
	for k < len(ms) && c.i < c.n {
		data := c.bufs[c.i][:c.r.Size(c.i)]
		if c.off == 0 { // a new message: parse its segment size once
			c.seg = c.r.SegSize(c.i)
			if c.seg == 0 || c.seg > len(data) {
				c.seg = len(data)
			}
		}
		l := min(c.seg, len(data)-c.off)
		m := &ms[k]
		m.N = copy(m.Buffers[0], data[c.off:c.off+l])
		m.Flags = 0
		if m.N < l || c.r.Truncated(c.i) && c.off+l == len(data) {
			m.Flags = syscall.MSG_TRUNC
		}
		m.NN = copy(m.OOB, c.r.Control(c.i))
		m.Addr = c.addr(c.r.Addr(c.i))
		if m.N >= gateMinPacket {
			counted++
		}
		k++
		if c.off += l; c.off >= len(data) {
			c.i, c.off = c.i+1, 0
		}
	}
	c.gate.handed(counted)
	return k, nil
}

// WriteMsgUDP is the socket's, with small writes counted for the gate:
// quic-go writes ACKs while it works through packets it was handed, so a
// gate that sees them knows quic-go is busy, not that its count drifted.
// Big writes (data, GSO batches) say nothing about received packets: a
// sender writes them all the time, and counting them would keep a
// drifted gate shut.
func (c *groConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if len(b) < gateMinPacket {
		c.gate.progress.Add(1)
	}
	return c.UDPConn.WriteMsgUDP(b, oob, addr)
}

func (c *groConn) addr(a netip.AddrPort) *net.UDPAddr {
	if c.fromAddr == nil || a != c.from {
		c.from, c.fromAddr = a, net.UDPAddrFromAddrPort(a)
	}
	return c.fromAddr
}
