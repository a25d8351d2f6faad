package sleeve

import (
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// TestSendAllocs pins Send at zero allocations, for packed (64-byte),
// in-place (1400-byte) datagrams, super-frames (fragments, UDP GSO) and a
// mix, with and without GSO, plain and encrypted.
func TestSendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	mixed := make([]int, 32)
	for i := range mixed {
		mixed[i] = []int{superSize, 60, 1400, frame.MaxSuperFrameSize}[i%4]
	}
	for _, c := range encModes {
		enc := c != noEncryption
		for _, noGSO := range []bool{false, true} {
			for _, size := range append(benchSizes, 0) {
				name := sizeName(size)
				if size == 0 {
					name = "mixed"
				}
				if noGSO {
					name += "/no-gso"
				}
				t.Run(encName(c, name), func(t *testing.T) {
					a := openSleeve(t, Config{Self: peerA, noGSO: noGSO, Encrypt: enc})
					dst := openSleeve(t, Config{Self: peerB})
					if enc {
						setCipherKeys(t, a, dst, "allocs", c)
					}
					out := benchBatch(a.s, size)
					if size == 0 {
						out = withGSO(makeBatch(mixed))
					}
					allocs := testing.AllocsPerRun(50, func() {
						if err := a.s.Send(out, dst.ep); err != nil {
							t.Fatal(err)
						}
					})
					if allocs != 0 {
						t.Errorf("Send of %d frames: %v allocs, want 0", out.N, allocs)
					}
				})
			}
		}
	}
}

// TestReceiveAllocs pins the receive path (recvmmsg, GRO split, decode,
// reassembly, copy into the batch, endpoints) at zero allocations once the
// sender is known.
func TestReceiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, c := range encModes {
		for _, size := range benchSizes {
			t.Run(encName(c, sizeName(size)), func(t *testing.T) {
				rt := newRoundTripper(t, size, c)
				rt.b.s.sock.Load().conn.SetReadDeadline(time.Now().Add(time.Minute))
				allocs := testing.AllocsPerRun(50, func() { rt.run(t) })
				if allocs != 0 {
					t.Errorf("Send+receive of %d %d-byte frames: %v allocs, want 0", rt.out.N, size, allocs)
				}
				if size > frame.MaxFrameSize && rt.b.s.Stats().Reassembled == 0 {
					t.Error("no frame reassembled")
				}
				if s := rt.b.s.Stats(); s.DroppedTotal() != 0 {
					t.Errorf("dropped %v", s.Dropped)
				}
			})
		}
	}
}
