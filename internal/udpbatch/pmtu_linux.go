package udpbatch

import (
	"net"
	"syscall"
)

// SocketMTU reads IP_MTU / IPV6_MTU of a connected UDP socket.
func SocketMTU(c *net.UDPConn, v6 bool) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var mtu int
	var serr error
	err = rc.Control(func(fd uintptr) {
		if v6 {
			mtu, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_MTU)
		} else {
			mtu, serr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_MTU)
		}
	})
	if err == nil {
		err = serr
	}
	return mtu, err
}
