//go:build !linux

package quictransport

import (
	"errors"
	"net"
)

func socketMTU(*net.UDPConn, bool) (int, error) {
	return 0, errors.New("path MTU query not supported on this platform")
}
