package sleeve

import (
	"testing"
	"time"
)

// TestSendAllocs pins Send of a full batch at zero allocations, for packed
// (64-byte) and in-place (1400-byte) datagrams.
func TestSendAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, size := range benchSizes {
		t.Run(sizeName(size), func(t *testing.T) {
			a := openSleeve(t, Config{Self: peerA})
			dst := openSleeve(t, Config{Self: peerB})
			out := makeBatch(repeat(a.s.BatchSize(), size))
			if out.N != 128 {
				t.Fatalf("batch of %d", out.N)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := a.s.Send(out, dst.ep); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("Send of %d %d-byte frames: %v allocs, want 0", out.N, size, allocs)
			}
		})
	}
}

// TestReceiveAllocs pins the receive path (recvmmsg, decode, copy into the
// batch, endpoints) at zero allocations once the sender is known.
func TestReceiveAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, size := range benchSizes {
		t.Run(sizeName(size), func(t *testing.T) {
			rt := newRoundTripper(t, size)
			rt.b.s.sock.Load().conn.SetReadDeadline(time.Now().Add(time.Minute))
			allocs := testing.AllocsPerRun(50, func() { rt.run(t) })
			if allocs != 0 {
				t.Errorf("Send+receive of %d %d-byte frames: %v allocs, want 0", rt.out.N, size, allocs)
			}
		})
	}
}
