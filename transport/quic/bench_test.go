package quictransport

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	quic "github.com/quic-go/quic-go"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// TestMaxDatagramPayload checks MaxDatagramPayload (and so Overhead)
// against quic-go: once path MTU discovery has reached its ceiling, the
// DatagramTooLargeError reports exactly MaxDatagramPayload.
func TestMaxDatagramPayload(t *testing.T) {
	a, b := newPair(t)
	l := a.t.mu.byName[nameB].link.Load()
	big := make([]byte, 2000)
	var last int64
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var tl *quic.DatagramTooLargeError
		if err := l.conn.SendDatagram(big); !errors.As(err, &tl) {
			t.Fatalf("SendDatagram(2000 bytes) = %v", err)
		}
		last = tl.MaxDatagramPayloadSize
		if last >= MaxDatagramPayload {
			break
		}
		// Keep traffic flowing so that MTU probes get acknowledged.
		batch := frame.NewBatch(1, transport.MaxOverhead)
		batch.Sizes[0], batch.N = 60, 1
		a.t.Send(batch, transport.AddrPortEndpoint(b.local))
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("quic-go's maximum datagram payload: %d", last)
	if hi := quicMaxUDPPayload - quicDatagramReserve + 3; last < MaxDatagramPayload || last > int64(hi) {
		t.Errorf("quic-go's maximum datagram payload = %d, want %d..%d", last, MaxDatagramPayload, hi)
	}
}

// BenchmarkRoundTrip sends batches of 32 frames from a to b over
// loopback and counts what b's ReceiveFunc returns. An op is one batch.
// Datagrams are unreliable: %lost counts frames that never arrived, of
// which %queuefull were dropped by our receive queue and %quicqueue by
// quic-go's 128-datagram receive queue (counted from its qlog events).
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range []int{64, 1380, 1400} {
		b.Run(itoa(size), func(b *testing.B) { benchRoundTrip(b, size, Config{}) })
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

func benchRoundTrip(b *testing.B, size int, cfg Config) {
	x, y := newPairConfig(b, cfg)
	var received atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := frame.NewBatch(64, transport.MaxOverhead)
		eps := make([]transport.Endpoint, batch.Cap())
		for {
			n, err := y.recv(batch, eps)
			if err != nil {
				return
			}
			received.Add(int64(n))
		}
	}()
	batch := frame.NewBatch(32, transport.MaxOverhead)
	for i := range batch.Cap() {
		batch.Sizes[i] = size
		batch.Meta[i] = frame.Meta{Src: nameA, Dst: nameB}
	}
	batch.N = batch.Cap()
	ep := transport.AddrPortEndpoint(y.local)
	b.ReportAllocs()
	b.SetBytes(int64(size * batch.N))
	start := time.Now()
	sent := 0
	for b.Loop() {
		if err := x.t.Send(batch, ep); err != nil {
			b.Fatal(err)
		}
		sent += batch.N
	}
	deadline := time.Now().Add(2 * time.Second)
	for received.Load() < int64(sent) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	got := received.Load()
	b.ReportMetric(float64(got)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(100*float64(int64(sent)-got)/float64(sent), "%lost")
	b.ReportMetric(float64(y.t.Stats().DropQueueFull)/float64(sent)*100, "%queuefull")
	b.ReportMetric(float64(y.t.Stats().DropQUICReceive)/float64(sent)*100, "%quicqueue")
	y.t.Close()
	<-done
}
