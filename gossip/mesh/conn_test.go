package mesh

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/weave-switch/weave-switch/gossip/handshake"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

// TestSendQueueBytes: a connection's send queue holds sendQueueBytes of
// payload; the message beyond disconnects the peer.
func TestSendQueueBytes(t *testing.T) {
	leakcheck.Check(t)
	p1, p2 := net.Pipe()
	defer p2.Close()
	ctx := context.Background()
	go func() {
		if hc, err := handshake.Server(ctx, p2, handshake.Config{Name: 2, UID: 2, Incarnation: 2}); err == nil {
			io.Copy(io.Discard, hc.NetConn())
		}
	}()
	hc, err := handshake.Client(ctx, p1, handshake.Config{Name: 1, UID: 1, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := &Mesh{log: slog.New(slog.DiscardHandler)}
	c := &connection{hc: hc, hello: hc.Remote(), sendq: make(chan outMsg, sendQueueLen), quit: make(chan struct{})}
	msg := make([]byte, 1<<20)
	for range sendQueueBytes / len(msg) {
		m.send(c, msgChannel, msg)
	}
	select {
	case <-c.quit:
		t.Fatal("disconnected below the byte bound")
	default:
	}
	m.send(c, msgChannel, msg)
	select {
	case <-c.quit:
	default:
		t.Fatal("not disconnected above the byte bound")
	}
	if got := c.queued.Load(); got != sendQueueBytes || len(c.sendq) != sendQueueBytes/len(msg) {
		t.Errorf("queued %d bytes in %d messages", got, len(c.sendq))
	}
}
