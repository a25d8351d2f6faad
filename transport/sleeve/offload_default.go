//go:build !linux

package sleeve

import "net"

// No UDP GSO or GRO outside Linux.
const (
	segmentCmsgSpace = 0
	recvCmsgSpace    = 0
)

func setupOffloads(*net.UDPConn, bool, bool) (gso, gro bool) { return false, false }

func putSegmentCmsg([]byte, int) {}

func groSize([]byte) int { return 0 }

func alignedBytes(n int) []byte { return make([]byte, n) }

func gsoError(error) (disable, retry bool) { return false, false }
