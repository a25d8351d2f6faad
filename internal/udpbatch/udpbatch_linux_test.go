package udpbatch

import (
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestSegmentCmsgRoundTrip(t *testing.T) {
	b := AlignedBytes(SegmentCmsgSpace)
	PutSegmentCmsg(b, 1440)
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	if h.Level != solUDP || h.Type != udpSegment || *(*uint16)(unsafe.Pointer(&b[syscall.CmsgLen(0)])) != 1440 {
		t.Fatalf("cmsg %+v", h)
	}
	// A GRO cmsg carries an int; GROSize finds it after another cmsg and
	// refuses truncated or garbage input.
	oob := AlignedBytes(RecvCmsgSpace)
	h = (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = syscall.SOL_SOCKET, 99
	h.SetLen(syscall.CmsgLen(4))
	next := syscall.CmsgSpace(4)
	h = (*syscall.Cmsghdr)(unsafe.Pointer(&oob[next]))
	h.Level, h.Type = solUDP, udpGRO
	h.SetLen(syscall.CmsgLen(4))
	*(*int32)(unsafe.Pointer(&oob[next+syscall.CmsgLen(0)])) = 1452
	if got := GROSize(oob); got != 1452 {
		t.Errorf("GROSize = %d, want 1452", got)
	}
	for _, bad := range [][]byte{nil, oob[:3], make([]byte, 64)} {
		if got := GROSize(bad); got != 0 {
			t.Errorf("GROSize(%x) = %d, want 0", bad, got)
		}
	}
}

// loopbackPair is a socket on 127.0.0.1 and one connected to it, closed
// when the test ends.
func loopbackPair(t *testing.T) (rx, tx *net.UDPConn) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	tx, err = net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return rx, tx
}

func TestReaderBatch(t *testing.T) {
	rx, tx := loopbackPair(t)
	for i := range 5 {
		if _, err := tx.Write(make([]byte, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, 2048)
	}
	r, err := NewReader(rx, bufs, false)
	if err != nil {
		t.Fatal(err)
	}
	from := tx.LocalAddr().(*net.UDPAddr).AddrPort()
	got := 0
	for got < 5 {
		n, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if r.Size(i) != 100+got || r.Addr(i) != netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) || r.Truncated(i) || r.SegSize(i) != 0 {
				t.Fatalf("datagram %d: %d bytes from %v", got, r.Size(i), r.Addr(i))
			}
			got++
		}
	}
	if n := testing.AllocsPerRun(20, func() {
		if _, err := tx.Write(make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Read(); err != nil {
			t.Fatal(err)
		}
	}); n > 1 { // the Write's buffer
		t.Errorf("Read allocates: %v per call", n)
	}
}

// ReadInto reads into the buffers it is given, at most that many, and
// lets go of the ones an earlier call was given and this one is not.
func TestReaderReadInto(t *testing.T) {
	rx, tx := loopbackPair(t)
	placeholder := []byte{0}
	slots := make([][]byte, 8)
	for i := range slots {
		slots[i] = placeholder
	}
	r, err := NewReader(rx, slots, false)
	if err != nil {
		t.Fatal(err)
	}
	mine := make([][]byte, 4)
	for i := range mine {
		mine[i] = make([]byte, 2048)
	}
	for i := range 6 {
		if _, err := tx.Write(make([]byte, 100+i)); err != nil {
			t.Fatal(err)
		}
	}
	n, err := r.ReadInto(mine)
	if err != nil || n != 4 {
		t.Fatalf("ReadInto 4 buffers with 6 datagrams queued: %d, %v", n, err)
	}
	for i := range n {
		if r.Size(i) != 100+i || &r.bufs[i][0] != &mine[i][0] {
			t.Fatalf("datagram %d: %d bytes, or not in the buffer given", i, r.Size(i))
		}
	}
	n, err = r.ReadInto(mine[:1])
	if err != nil || n != 1 || r.Size(0) != 104 {
		t.Fatalf("ReadInto 1 buffer: %d, %v, %d bytes", n, err, r.Size(0))
	}
	for i := 1; i < 4; i++ {
		if r.iovs[i].Base != nil || r.bufs[i] != nil {
			t.Errorf("slot %d still holds the buffer of an earlier read", i)
		}
	}
	if r.iovs[4].Base != &placeholder[0] {
		t.Error("a slot no ReadInto filled lost the buffer NewReader gave it")
	}
}

// Writer: runs of equal-size datagrams go as GSO messages without a copy;
// every datagram arrives whole, in order, GSO on or off.
func TestWriter(t *testing.T) {
	for _, useGSO := range []bool{true, false} {
		rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
		if err != nil {
			rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
		}
		defer rx.Close()
		tx, err := net.ListenUDP("udp", nil) // dual-stack if the host has IPv6
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Close()
		gso, _ := SetupOffloads(tx, true, false)
		var flag atomic.Bool
		flag.Store(gso && useGSO)
		w, err := NewWriter(tx, 200, &flag)
		if err != nil {
			t.Fatal(err)
		}
		// 70 of 1000 bytes (more than one GSO message), one of 300 (ends
		// the run), 3 of 1200, then 2 of 50.
		var bufs [][]byte
		for i := range 76 {
			n := 1000
			switch {
			case i == 70:
				n = 300
			case i > 70 && i < 74:
				n = 1200
			case i >= 74:
				n = 50
			}
			b := make([]byte, n)
			b[0], b[n-1] = byte(i), byte(i)
			bufs = append(bufs, b)
		}
		if err := w.Write(bufs, rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
			t.Fatalf("gso %v: %v", useGSO, err)
		}
		buf := make([]byte, 2000)
		for i, want := range bufs {
			if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			n, err := rx.Read(buf)
			if err != nil {
				t.Fatalf("gso %v: datagram %d: %v", useGSO, i, err)
			}
			if n != len(want) || buf[0] != want[0] || buf[n-1] != want[n-1] {
				t.Fatalf("gso %v: datagram %d: %d bytes [%d..%d], want %d [%d..%d]", useGSO, i, n, buf[0], buf[n-1], len(want), want[0], want[len(want)-1])
			}
		}
		if n := testing.AllocsPerRun(20, func() {
			if err := w.Write(bufs[:10], rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("Write: %v allocs", n)
		}
	}
}
