//go:build !linux

package udpbatch

import "net"

// No UDP GSO or GRO outside Linux.
const (
	SegmentCmsgSpace = 0
	RecvCmsgSpace    = 0
)

func SetupOffloads(*net.UDPConn, bool, bool) (gso, gro bool) { return false, false }

func PutSegmentCmsg([]byte, int) {}

func GROSize([]byte) int { return 0 }

func AlignedBytes(n int) []byte { return make([]byte, n) }

func GSOError(error) (disable, retry bool) { return false, false }
