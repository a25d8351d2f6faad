package router

import (
	"slices"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// TestHeartbeatPacing: a link is pinged on every call while it was never
// pinged, while its last ping is unanswered and while data frames cross
// it; an idle link whose last ping was answered is pinged only once that
// ping is IdleHeartbeat old.
func TestHeartbeatPacing(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	tr := &mover{}
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(regB)}})
	pings := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.to)
	}
	tick := func() int { // one control-plane call, a second after the last
		clock = clock.Add(time.Second)
		before := pings()
		r.SendHeartbeats()
		return pings() - before
	}
	answer := func() { // B answers the last ping
		f := make([]byte, heartbeatLen)
		putHeartbeat(f, hbPong, clock.UnixNano())
		if !receive(r, tr, regB, false, f) {
			t.Fatal("pong refused")
		}
	}

	if n := tick(); n != 1 {
		t.Fatalf("never pinged: %d pings, want 1", n)
	}
	if n := tick(); n != 1 {
		t.Fatalf("last ping unanswered: %d pings, want 1", n)
	}
	answer()
	var got []int
	for range 4 { // B answers every ping
		n := tick()
		if got = append(got, n); n > 0 {
			answer()
		}
	}
	if want := []int{0, 1, 0, 1}; !slices.Equal(got, want) {
		t.Fatalf("idle, answered link: pings per call %v, want %v", got, want)
	}
	// The next ping goes unanswered: suspect, pinged on every call.
	got = []int{tick(), tick(), tick(), tick()}
	if want := []int{0, 1, 1, 1}; !slices.Equal(got, want) {
		t.Fatalf("unanswered link: pings per call %v, want %v", got, want)
	}
	answer()
	// Data from B since the last ping: pinged on the next call.
	clock = clock.Add(10 * time.Millisecond)
	if !receive(r, tr, regB, false, dataFrame) {
		t.Fatal("data frame refused")
	}
	if n := tick(); n != 1 {
		t.Fatalf("link with traffic: %d pings, want 1", n)
	}

	r.cfg.IdleHeartbeat = -1
	answer()
	for range 3 {
		if n := tick(); n != 1 {
			t.Fatalf("IdleHeartbeat < 0: %d pings, want 1 on every call", n)
		}
		answer()
	}
}

// TestHeartbeatOneSided: on an idle link the router with the larger name
// does not ping while the smaller one's pings come with the age of their
// last answer, counts each such ping as an answer that old, and pings
// again once its evidence is 8/3 × IdleHeartbeat old.
func TestHeartbeatOneSided(t *testing.T) {
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	tr := &mover{}
	// r is nameB; its neighbour nameA (smaller) pings for both.
	r, err := New(Config{Self: nameB, Device: newFakeDevice(), Transport: tr, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameA, Endpoint: transport.AddrPortEndpoint(regB)}})
	sent := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.to)
	}
	recv := func(kind byte, age time.Duration) { // a heartbeat from A
		f := make([]byte, heartbeatLen)
		putHeartbeat(f, kind, clock.UnixNano())
		if age >= 0 {
			putPongAge(f, age)
		}
		b := frame.NewBatch(1, transport.MaxOverhead)
		b.Sizes[0] = copy(b.Room(0), f)
		b.Meta[0] = frame.Meta{Src: nameA, Via: nameA}
		b.N = 1
		pong := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
		r.filterBatch(b, []transport.Endpoint{transport.AddrPortEndpoint(regB)}, tr, pong)
	}
	// tick: a second passes, A's ping arrives if probe, then r's call;
	// it returns how many pings r sent in the call.
	tick := func(probe bool) int {
		clock = clock.Add(time.Second)
		if probe {
			recv(hbPing, 2*time.Second)
		}
		before := sent()
		r.SendHeartbeats()
		return sent() - before
	}
	if n := tick(false); n != 1 {
		t.Fatalf("never pinged: %d pings, want 1", n)
	}
	recv(hbPong, -1)
	var got []int
	for i := range 6 { // A pings every other second
		got = append(got, tick(i%2 == 1))
	}
	if want := []int{0, 0, 0, 0, 0, 0}; !slices.Equal(got, want) {
		t.Fatalf("idle link pinged by A: r's pings per call %v, want %v", got, want)
	}
	if age := clock.Sub(r.LinkHealth()[nameA].LastPong); age != 2*time.Second {
		t.Fatalf("last answer %v old, want the 2 s A's last ping said", age)
	}
	// A's pings stop: r pings once its evidence is 4 s old.
	got = []int{tick(false), tick(false)}
	if want := []int{0, 1}; !slices.Equal(got, want) {
		t.Fatalf("A's pings stopped: r's pings per call %v, want %v", got, want)
	}
	// A ping without an age (an older router) changes nothing.
	recv(hbPong, -1)
	lastPong := r.LinkHealth()[nameA].LastPong
	clock = clock.Add(time.Second)
	recv(hbPing, -1)
	if r.LinkHealth()[nameA].LastPong != lastPong {
		t.Fatal("a ping without an age counted as an answer")
	}
}

// TestPongAge: the age a ping carries reads back in milliseconds, is
// clamped at zero, and a plain ping carries none.
func TestPongAge(t *testing.T) {
	f := make([]byte, heartbeatLen)
	putHeartbeat(f, hbPing, 1)
	if _, ok := pongAge(f); ok {
		t.Fatal("plain ping carries an age")
	}
	putPongAge(f, 1234*time.Millisecond+5)
	if age, ok := pongAge(f); !ok || age != 1234*time.Millisecond {
		t.Fatalf("age %v %v, want 1.234s", age, ok)
	}
	putPongAge(f, -time.Second)
	if age, _ := pongAge(f); age != 0 {
		t.Fatalf("negative age read back as %v", age)
	}
}

// FuzzHeartbeat: any frame from a neighbour goes through the heartbeat
// handling without panicking, and no heartbeat, whatever age it claims,
// records an answer later than now.
func FuzzHeartbeat(f *testing.F) {
	ping := make([]byte, heartbeatLen)
	putHeartbeat(ping, hbPing, 1)
	putPongAge(ping, time.Second)
	f.Add(ping)
	pong := make([]byte, heartbeatLen)
	putHeartbeat(pong, hbPong, 1)
	f.Add(pong)
	f.Add(ping[:heartbeatLen-1])
	clock := time.Unix(1_000_000, 0)
	tr := &mover{}
	r, err := New(Config{Self: nameB, Device: newFakeDevice(), Transport: tr, Now: func() time.Time { return clock }})
	if err != nil {
		f.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameA, Endpoint: transport.AddrPortEndpoint(regB)}})
	f.Fuzz(func(t *testing.T, fr []byte) {
		if len(fr) > frame.MaxFrameSize {
			return
		}
		b := frame.NewBatch(1, transport.MaxOverhead)
		b.Sizes[0] = copy(b.Room(0), fr)
		b.Meta[0] = frame.Meta{Src: nameA, Via: nameA}
		b.N = 1
		pb := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
		r.filterBatch(b, []transport.Endpoint{transport.AddrPortEndpoint(regB)}, tr, pb)
		if h := r.LinkHealth()[nameA]; h.LastPong.After(clock) {
			t.Fatalf("answer recorded at %v, after now %v", h.LastPong, clock)
		}
		tr.mu.Lock()
		tr.to = tr.to[:0]
		tr.mu.Unlock()
	})
}
