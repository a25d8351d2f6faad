package host

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host/internal/segment"
)

// tcpSuperFrame builds an Ethernet/IPv4/TCP super-frame with payloadLen
// bytes of payload and a partial TCP checksum, as a TAP with TSO reads it.
func tcpSuperFrame(payloadLen, mss int) ([]byte, frame.GSO) {
	f := make([]byte, 14+20+20+payloadLen)
	copy(f, []byte{0x02, 0, 0, 0, 0x5e, 0x02, 0x02, 0, 0, 0, 0x5e, 0x01})
	binary.BigEndian.PutUint16(f[12:], frame.EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	binary.BigEndian.PutUint16(ip[4:], 0x1234)
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8], ip[9] = 64, 6
	copy(ip[12:], []byte{10, 44, 0, 1, 10, 44, 0, 2})
	binary.BigEndian.PutUint16(ip[10:], ^frame.Checksum(ip[:20], 0))
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 5201)
	binary.BigEndian.PutUint32(tcp[4:], 0xfffff000) // sequence numbers wrap
	tcp[12], tcp[13] = 5<<4, 0x18                   // PSH|ACK
	binary.BigEndian.PutUint16(tcp[14:], 1024)
	for i := range payloadLen {
		tcp[20+i] = byte(i*13 + i>>8)
	}
	pseudo := frame.Checksum(ip[12:20], 0)
	pseudo = frame.Checksum([]byte{0, 6, byte(len(tcp) >> 8), byte(len(tcp))}, pseudo)
	binary.BigEndian.PutUint16(tcp[16:], pseudo)
	return f, frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 54, Size: uint16(mss), CsumStart: 34, CsumOffset: 16}
}

// TestPlainTAPSegmentsSuperFrames writes a TCP super-frame to a TAP without
// offloads, which segments it in userspace; the segments cross a bridge and
// are read from a second plain TAP, byte for byte as segment.Cut cut them.
// A malformed super-frame is dropped and counted.
//
// With offload=true the writing TAP has offloads instead, so the kernel's
// own GSO cuts the super-frame for the plain TAP: the same comparison is
// then a differential test of segment.Cut against Linux.
func TestPlainTAPSegmentsSuperFrames(t *testing.T) {
	for _, offload := range []bool{false, true} {
		t.Run(fmt.Sprintf("writer-offload=%v", offload), func(t *testing.T) { testPlainTAPSegments(t, offload) })
	}
}

func testPlainTAPSegments(t *testing.T, writerOffload bool) {
	requireRoot(t)
	ns := namedNS(t)
	inNS(t, ns, func() {
		if _, err := EnsureBridge(Bridge{Name: "wsg0", MTU: 1500}); err != nil {
			t.Errorf("EnsureBridge: %v", err)
			return
		}
		var taps [2]*TAP
		for i, name := range []string{"wsg0-tap1", "wsg0-tap2"} {
			tap, err := OpenTAP(name, i == 0 && writerOffload)
			if err != nil {
				t.Errorf("OpenTAP: %v", err)
				return
			}
			defer tap.Close()
			if err := SetMaster(name, "wsg0", 1500); err != nil {
				t.Errorf("SetMaster: %v", err)
				return
			}
			taps[i] = tap
		}
		if taps[0].Offloads() != writerOffload || taps[1].Offloads() {
			t.Errorf("Offloads() = %v, %v; want %v, false", taps[0].Offloads(), taps[1].Offloads(), writerOffload)
		}
		time.Sleep(50 * time.Millisecond) // ports reach forwarding state

		super, g := tcpSuperFrame(20000, 1400)
		want := make([][]byte, 64)
		for i := range want {
			want[i] = make([]byte, frame.MaxFrameSize)
		}
		nwant, err := segment.Cut(super, g, want)
		if err != nil || nwant != 15 {
			t.Errorf("segment.Cut = %d, %v; want 15 segments", nwant, err)
			return
		}
		bad := bytes.Clone(super)
		bad[14+9] = 17 // UDP in a TCPv4 super-frame

		wb := frame.NewBatchSize(2, 16, frame.MaxSuperFrameSize)
		wb.Sizes[0] = copy(wb.Room(0), bad)
		wb.Sizes[1] = copy(wb.Room(1), super)
		wb.Meta[0].GSO, wb.Meta[1].GSO = g, g
		wb.N = 2
		idx := []int{0, 1}
		if writerOffload {
			idx = idx[1:] // what Linux does with a malformed one is not our contract
		}
		if n, err := taps[0].Write(wb, idx); err != nil || n != len(idx) {
			t.Errorf("Write = %d, %v", n, err)
		}
		if d := taps[0].Dropped(); !writerOffload && d != 1 {
			t.Errorf("Dropped = %d, want 1 (the malformed super-frame)", d)
		}
		if !bytes.Equal(wb.Frame(1), super) {
			t.Error("Write modified the batch's super-frame")
		}

		rb := frame.NewBatch(16, 16)
		got := 0
		deadline := time.Now().Add(5 * time.Second)
		for got < nwant && time.Now().Before(deadline) {
			n, err := taps[1].Read(rb)
			if err != nil {
				t.Errorf("Read: %v", err)
				return
			}
			for i := range n {
				f := rb.Frame(i)
				if len(f) < 14 || !bytes.Equal(f[6:12], super[6:12]) {
					continue // IPv6 autoconf noise from the kernel
				}
				if !bytes.Equal(f, want[got]) {
					t.Errorf("segment %d = %x\nwant %x", got, f, want[got])
				}
				got++
			}
		}
		if got != nwant {
			t.Errorf("read %d of %d segments", got, nwant)
		}
		if err := DeleteLink("wsg0"); err != nil {
			t.Errorf("DeleteLink: %v", err)
		}
	})
}
