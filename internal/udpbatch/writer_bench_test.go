package udpbatch

import (
	"net"
	"sync/atomic"
	"testing"
)

// BenchmarkWrite: 128 datagrams of 1440 bytes in separate buffers, as
// wireguard-go hands them over, to a loopback socket nobody reads.
func BenchmarkWrite(b *testing.B) {
	for _, useGSO := range []bool{true, false} {
		name := "gso"
		if !useGSO {
			name = "plain"
		}
		b.Run(name, func(b *testing.B) {
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer rx.Close()
			tx, err := net.ListenUDP("udp", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer tx.Close()
			gso, _ := SetupOffloads(tx, true, false)
			var flag atomic.Bool
			flag.Store(gso && useGSO)
			w, err := NewWriter(tx, 128, &flag)
			if err != nil {
				b.Fatal(err)
			}
			bufs := make([][]byte, 128)
			for i := range bufs {
				bufs[i] = make([]byte, 1440)
			}
			dst := rx.LocalAddr().(*net.UDPAddr).AddrPort()
			b.ReportAllocs()
			b.SetBytes(128 * 1440)
			for b.Loop() {
				if err := w.Write(bufs, dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
