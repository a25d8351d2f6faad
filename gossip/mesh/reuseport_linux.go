package mesh

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort sets SO_REUSEPORT on a socket before it binds, so that the
// sockets of one punching attempt (punch.go), one per candidate, can
// share its port.
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// canPunch: this platform can share a port between punching sockets.
const canPunch = true

// punchSocket prepares a punching socket: it shares its port with the
// other attempts to the same peer (SO_REUSEPORT) and is reset when
// closed (SO_LINGER 0), so that an attempt given up holds no address
// pair.
func punchSocket(network, address string, c syscall.RawConn) error {
	if err := reusePort(network, address, c); err != nil {
		return err
	}
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
	if err != nil {
		return err
	}
	return serr
}
