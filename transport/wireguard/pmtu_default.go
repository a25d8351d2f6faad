//go:build !linux

package wireguard

import (
	"errors"
	"net"
)

func socketMTU(*net.UDPConn, bool) (int, error) {
	return 0, errors.New("path MTU query not supported on this platform")
}
