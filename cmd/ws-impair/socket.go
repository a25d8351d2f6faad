package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
)

type atomicCount = atomic.Uint64

// queueSocket is a netlink socket bound to one netfilter queue.
type queueSocket struct {
	fd     int
	sendMu sync.Mutex
}

// openQueue binds queue (copying packets' metadata only, up to maxLen
// queued) and returns the socket.
func openQueue(queue uint16, maxLen uint32) (*queueSocket, error) {
	fd, err := syscall.Socket(syscall.AF_NETLINK, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, netlinkNetfilter)
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bind netlink: %w", err)
	}
	// Room for bursts: a packet the kernel cannot report is stuck in the
	// queue until it fills.
	_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 16<<20)
	s := &queueSocket{fd: fd}
	buf := make([]byte, 8192)
	for seq, msg := range [][]byte{bindMsg(1, queue), paramsMsg(2, queue, maxLen)} {
		if err := s.send(msg); err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("configure queue %d (step %d): %w", queue, seq+1, err)
		}
		n, err := s.recv(buf)
		if err == nil {
			err = parse(buf[:n], func(uint32) {})
		}
		if err != nil {
			syscall.Close(fd)
			return nil, fmt.Errorf("configure queue %d (step %d): %w", queue, seq+1, err)
		}
	}
	return s, nil
}

func (s *queueSocket) send(b []byte) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return syscall.Sendto(s.fd, b, 0, &syscall.SockaddrNetlink{Family: syscall.AF_NETLINK})
}

func (s *queueSocket) recv(b []byte) (int, error) {
	n, _, err := syscall.Recvfrom(s.fd, b, 0)
	return n, err
}
