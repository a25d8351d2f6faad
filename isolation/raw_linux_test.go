package isolation

import (
	"net"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// sendRaw sends three broadcast frames of EtherType etype from c's eth0
// (with c's own MAC) through a packet socket opened inside c's namespace.
// It reports false if packet sockets are unavailable.
func sendRaw(t *testing.T, c *cont, etype uint16) bool {
	t.Helper()
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(c.ns)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			done <- result{err: err}
			return
		}
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			done <- result{err: err}
			return
		}
		proto := int(etype>>8 | etype<<8&0xff00)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, proto)
		if err != nil {
			done <- result{ok: false}
			return
		}
		defer unix.Close(fd)
		f := make([]byte, 60)
		copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
		copy(f[6:], c.mac[:])
		f[12], f[13] = byte(etype>>8), byte(etype)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: uint16(proto), Halen: 6}
		copy(sa.Addr[:], f[:6])
		for range 3 {
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				done <- result{err: err}
				return
			}
		}
		done <- result{ok: true}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("raw send in %s: %v", c.ns, r.err)
	}
	return r.ok
}
