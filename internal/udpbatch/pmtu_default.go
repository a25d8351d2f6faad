//go:build !linux

package udpbatch

import (
	"errors"
	"net"
)

// SocketMTU is not available outside Linux.
func SocketMTU(*net.UDPConn, bool) (int, error) {
	return 0, errors.New("path MTU query not supported on this platform")
}
