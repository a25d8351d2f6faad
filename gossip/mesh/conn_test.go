package mesh

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

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
	c := &connection{hc: hc, hello: hc.Remote(), quit: make(chan struct{})}
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
	if msgs, got := c.sendq.size(); got != sendQueueBytes || msgs != sendQueueBytes/len(msg) {
		t.Errorf("queued %d bytes in %d messages", got, msgs)
	}
}

// TestNameClaim: a connection claiming the name of a connected peer from
// another address is refused and counted, and the peer's link stays; the
// tie-break would have let it replace the link (the claimed name is the
// smaller, and it is the initiator).
func TestNameClaim(t *testing.T) {
	a := startNode(t, 0x020000000002, "", false)
	defer a.m.Close()
	b := startNode(t, 0x020000000001, "", false, a.addr())
	defer b.m.Close()
	waitFor(t, "a-b", func() bool { return a.established() == 1 })
	linkSince := func() time.Time {
		for _, cs := range a.status().Connections {
			if cs.Peer == "02:00:00:00:00:01" && cs.State == "established" {
				return cs.Since
			}
		}
		return time.Time{}
	}
	since := linkSince()

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	nc, err := d.Dial("tcp", a.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hc, err := handshake.Client(context.Background(), nc, handshake.Config{Name: 0x020000000001, UID: 7, Incarnation: 1})
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := hc.ReadMsg(nil); err == nil {
		t.Error("the claim got a message, want its connection closed")
	}
	waitFor(t, "the claim counted", func() bool { return a.status().HandshakesRefused[RefusedNameClaim] == 1 })
	if got := linkSince(); got.IsZero() || !got.Equal(since) {
		t.Errorf("a's link to b: established since %v, want since %v", got, since)
	}
	if a.established() != 1 || b.established() != 1 {
		t.Errorf("established: a %d, b %d; want 1 each", a.established(), b.established())
	}
}

// TestSendQueue: the queue holds at most sendQueueLen messages, signals
// its writer, and gives its buffer back once drained.
func TestSendQueue(t *testing.T) {
	var q sendQueue
	ready := q.signal()
	for i := range sendQueueLen {
		if !q.push(outMsg{typ: msgPing, payload: []byte{byte(i)}}) {
			t.Fatalf("message %d refused below the bound", i)
		}
	}
	if q.push(outMsg{typ: msgPing}) {
		t.Fatalf("message %d queued over the bound", sendQueueLen+1)
	}
	select {
	case <-ready:
	default:
		t.Fatal("no signal for the queued messages")
	}
	got := q.take(nil)
	if len(got) != sendQueueLen || got[7].payload[0] != 7 {
		t.Fatalf("took %d messages, want %d in order", len(got), sendQueueLen)
	}
	if n, bytes := q.size(); n != 0 || bytes != sendQueueLen {
		t.Errorf("after take: %d messages, %d bytes (being written), want 0, %d", n, bytes, sendQueueLen)
	}
	for _, m := range got {
		q.written(len(m.payload))
	}
	if _, bytes := q.size(); bytes != 0 || q.msgs != nil {
		t.Errorf("drained: %d bytes, buffer %d kept", bytes, cap(q.msgs))
	}
}
