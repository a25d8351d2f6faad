package router

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	ethswitch "github.com/weave-switch/weave-switch/switch"
	"github.com/weave-switch/weave-switch/transport"
)

// TestHeartbeatPacing: a link is pinged on every call while it was never
// pinged, while its last ping is unanswered and while data frames cross
// it; an idle link whose last ping was answered is pinged only once that
// ping is IdleHeartbeat old.
func TestHeartbeatPacing(t *testing.T) {
	tr := &mover{}
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr, IdleHeartbeat: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(regB)}})
	pings := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.to)
	}
	// The pace is measured on the router's monotonic clock, which
	// counts from r.born: moving born back moves the clock on.
	advance := func(d time.Duration) { r.born = r.born.Add(-d) }
	tick := func() int { // one control-plane call, a second after the last
		advance(time.Second)
		before := pings()
		r.SendHeartbeats()
		return pings() - before
	}
	answer := func() { // B answers the last ping
		f := make([]byte, heartbeatLen)
		putHeartbeat(f, hbPong, r.mono())
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
	advance(10 * time.Millisecond)
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

// TestLinkHealthUnanswered: LinkHealth says since when the link's pings
// go unanswered (the first ping since the last answer, not the latest),
// and nothing once a ping is answered; an idle link is pinged every
// IdleHeartbeat (10 s by default) and stays answered in between.
func TestLinkHealthUnanswered(t *testing.T) {
	tr := &mover{}
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(regB)}})
	advance := func(d time.Duration) { r.born = r.born.Add(-d) }
	health := func() link.Health { return r.LinkHealth()[nameB] }
	answer := func() {
		f := make([]byte, heartbeatLen)
		putHeartbeat(f, hbPong, r.mono())
		if !receive(r, tr, regB, false, f) {
			t.Fatal("pong refused")
		}
	}
	pings := func() int {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return len(tr.to)
	}

	if h := health(); !h.Unanswered.IsZero() || !h.LastPong.IsZero() {
		t.Fatalf("never pinged: %+v", h)
	}
	advance(time.Second)
	r.SendHeartbeats()
	first := health().Unanswered
	if first.IsZero() {
		t.Fatal("a ping went out, unanswered: Unanswered is zero")
	}
	advance(time.Second)
	r.SendHeartbeats()
	// Moving born back moves the wall time LinkHealth gives a past
	// instant back as much (and real time goes on meanwhile).
	if h := health(); h.Unanswered.Sub(first.Add(-time.Second)).Abs() > 100*time.Millisecond {
		t.Errorf("second unanswered ping: Unanswered %v, want the first's %v", h.Unanswered, first.Add(-time.Second))
	}
	answer()
	if h := health(); !h.Unanswered.IsZero() || h.LastPong.IsZero() {
		t.Fatalf("answered: %+v", h)
	}
	// Idle and answered: no ping before 3/4 of the default
	// IdleHeartbeat (10 s), one by 10 s.
	n0 := pings()
	for range 7 {
		advance(time.Second)
		r.SendHeartbeats()
	}
	if n := pings() - n0; n != 0 {
		t.Errorf("idle, answered link: %d pings in 7 s, want 0 (default IdleHeartbeat 10 s)", n)
	}
	if h := health(); !h.Unanswered.IsZero() {
		t.Errorf("idle between pings: Unanswered %v, want zero", h.Unanswered)
	}
	for range 3 {
		advance(time.Second)
		r.SendHeartbeats()
		if pings() > n0 {
			break
		}
	}
	if n := pings() - n0; n != 1 {
		t.Errorf("idle link by 10 s: %d pings, want 1", n)
	}
	if h := health(); h.Unanswered.IsZero() {
		t.Error("the idle ping went out unanswered: Unanswered is zero")
	}
}

// TestIdlePingsDriftApart: links that came up together (pinged in one
// call) are pinged, once idle, on calls spread over the last quarter of
// IdleHeartbeat, not all in one, so their answers do not come in one
// burst; and never more than IdleHeartbeat apart.
func TestIdlePingsDriftApart(t *testing.T) {
	tr := &mover{}
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr, IdleHeartbeat: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 64
	var peers []link.Peer
	for i := range n {
		peers = append(peers, link.Peer{Name: nameB + frame.PeerName(i), Endpoint: transport.AddrPortEndpoint(netip.AddrPortFrom(regB.Addr(), regB.Port()+uint16(i)))})
	}
	r.SetPeers(peers)
	advance := func(d time.Duration) { r.born = r.born.Add(-d) }
	answerAll := func() {
		for _, p := range r.peers.table.Load().list {
			p.lastPong.Store(r.mono())
		}
	}
	advance(time.Second)
	r.SendHeartbeats() // all of them, never pinged
	answerAll()
	last := map[frame.PeerName]int{}     // second of the last idle ping
	pinged := map[frame.PeerName]int64{} // lastPing seen
	for _, p := range r.peers.table.Load().list {
		pinged[p.peerName()] = p.lastPing.Load()
	}
	calls := map[int]int{} // call (second) -> pings in it
	for sec := 1; sec <= 60; sec++ {
		advance(time.Second)
		tr.mu.Lock()
		before := len(tr.to)
		tr.mu.Unlock()
		r.SendHeartbeats()
		answerAll()
		tr.mu.Lock()
		sent := len(tr.to) - before
		tr.mu.Unlock()
		calls[sec] += sent
		for _, p := range r.peers.table.Load().list {
			if ping := p.lastPing.Load(); ping != pinged[p.peerName()] {
				pinged[p.peerName()] = ping
				if l, ok := last[p.peerName()]; ok && sec-l > 20 {
					t.Errorf("%v pinged %d s after its last ping, IdleHeartbeat 20 s", p.peerName(), sec-l)
				}
				last[p.peerName()] = sec
			}
		}
	}
	busiest := 0
	for _, c := range calls {
		busiest = max(busiest, c)
	}
	if busiest > n/2 {
		t.Errorf("the busiest call pinged %d of %d idle links: not spread", busiest, n)
	}
	if len(last) != n {
		t.Errorf("%d of %d idle links pinged in 60 s", len(last), n)
	}
}

// TestPingBack: a ping from a neighbour is answered with a pong, and with
// a flagged ping of our own while our link to it is not known to work
// (never pinged, or our last ping unanswered), so that the link is
// judged up without waiting for the next heartbeat; a flagged ping is
// answered with the pong alone.
func TestPingBack(t *testing.T) {
	h := newHBRig(t)
	r, advance, heartbeat := h.r, h.advance, h.from
	sent := func() []byte { k, _, _ := h.sent(); return k } // the heartbeats sent since the last call

	advance(time.Second)
	heartbeat(hbPing, 0) // never pinged
	if got, want := sent(), []byte{hbPong, hbPing}; !slices.Equal(got, want) {
		t.Fatalf("B's first ping: sent %v, want pong and ping %v", got, want)
	}
	if h := r.LinkHealth()[nameB]; h.Unanswered.IsZero() {
		t.Error("the ping back is not counted as unanswered")
	}
	advance(time.Millisecond)
	heartbeat(hbPing, hbFlagBack) // a ping back from B: not pinged back
	if got, want := sent(), []byte{hbPong}; !slices.Equal(got, want) {
		t.Fatalf("B's ping back: sent %v, want the pong %v", got, want)
	}
	advance(time.Millisecond)
	heartbeat(hbPing, 0) // ours is still unanswered, however recent
	if got, want := sent(), []byte{hbPong, hbPing}; !slices.Equal(got, want) {
		t.Fatalf("B's ping, ours unanswered: sent %v, want %v", got, want)
	}
	heartbeat(hbPong, 0) // B answers
	if h := r.LinkHealth()[nameB]; h.LastPong.IsZero() || !h.Unanswered.IsZero() {
		t.Fatalf("answered: health %+v", h)
	}
	advance(time.Second)
	heartbeat(hbPing, 0) // the link works: only the pong
	if got, want := sent(), []byte{hbPong}; !slices.Equal(got, want) {
		t.Fatalf("B's ping on a working link: sent %v, want %v", got, want)
	}
	// The pings back and SendHeartbeats share one record: the answered
	// link is idle, not pinged on the next call.
	advance(time.Second)
	r.SendHeartbeats()
	if got := sent(); len(got) != 0 {
		t.Errorf("idle, answered link: SendHeartbeats sent %v", got)
	}
}

// TestHeartbeatShared: an idle link needs one exchange per keepalive, not
// one each way. A ping from the peer flagged heard, answered, counts as
// our own answered ping: while the peer's flagged pings come more often
// than our gap, we never ping; unflagged pings do not count, and once the
// peer's pings stop we ping every IdleHeartbeat again. Our pings are
// flagged heard when a heartbeat of the peer's arrived since our last.
func TestHeartbeatShared(t *testing.T) {
	h := newHBRig(t)
	r, tr, advance, from := h.r, h.tr, h.advance, h.from
	sent := func() (kinds, flags []byte) { k, f, _ := h.sent(); return k, f }
	count := func(kinds []byte, k byte) int {
		n := 0
		for _, x := range kinds {
			if x == k {
				n++
			}
		}
		return n
	}

	advance(time.Second)
	r.SendHeartbeats()
	if k, f := sent(); len(k) != 1 || k[0] != hbPing || f[0] != 0 {
		t.Fatalf("first ping: kinds %v flags %v, want one ping, unflagged (nothing heard yet)", k, f)
	}
	from(hbPong, 0)

	// B pings every 5 s, flagged: we answer, and never ping.
	for sec := 1; sec <= 60; sec++ {
		advance(time.Second)
		if sec%5 == 0 {
			from(hbPing, hbFlagHeard)
		}
		r.SendHeartbeats()
	}
	if k, _ := sent(); count(k, hbPing) != 0 || count(k, hbPong) != 12 {
		t.Fatalf("B pinging flagged every 5 s for 60 s: %d pings and %d pongs, want 0 and 12", count(k, hbPing), count(k, hbPong))
	}

	// B pings every 5 s, unflagged: they do not count; we ping every
	// 7.5 to 10 s, flagged (B's pings came in between), and B answers.
	for sec := 1; sec <= 40; sec++ {
		advance(time.Second)
		if sec%5 == 0 {
			from(hbPing, 0)
		}
		before := len(tr.kinds)
		r.SendHeartbeats()
		if len(tr.kinds) > before {
			from(hbPong, 0)
		}
	}
	k, f := sent()
	if n := count(k, hbPing); n < 4 || n > 5 {
		t.Fatalf("B pinging unflagged for 40 s: %d pings, want 4 or 5 (every 7.5 to 10 s)", n)
	}
	for i := range k {
		if k[i] == hbPing && f[i]&hbFlagHeard == 0 {
			t.Fatalf("our ping %d unflagged, with B's pings between ours", i)
		}
	}

	// B falls silent after one flagged ping: we ping between 3/4 of
	// IdleHeartbeat and all of it after that ping.
	from(hbPing, hbFlagHeard)
	sent()
	for sec := 1; sec <= 10; sec++ {
		advance(time.Second)
		r.SendHeartbeats()
		if k, _ := sent(); count(k, hbPing) > 0 {
			if sec < 7 {
				t.Fatalf("pinged %d s after B's flagged ping, before 3/4 of IdleHeartbeat", sec)
			}
			return
		}
	}
	t.Fatal("B silent: no ping within IdleHeartbeat of its last")
}

// TestPingRidesOnData: a ping due on a healthy link that carries frames we
// send goes with the next frames sent to that peer, in the same Send,
// not in a datagram of its own; it is not counted as data; one that
// found no data to ride by the next call goes on its own then; and a
// link never pinged is pinged at once, data or not.
func TestPingRidesOnData(t *testing.T) {
	h := newHBRig(t)
	r, advance := h.r, h.advance
	answer := func() { h.from(hbPong, 0) }
	sends := func() [][]byte { _, _, s := h.sent(); return s }
	d := newDispatcher(r, 8)
	send := func() { // one data frame to B
		b := frame.NewBatchSize(1, transport.MaxOverhead, 64)
		b.Sizes[0] = copy(b.Room(0), dataFrame)
		b.N = 1
		d.dispatch(b, []ethswitch.Decision{{Action: ethswitch.Peer, Peer: nameB}})
	}
	peerB := r.peers.table.Load().list[0]

	// Data before the link was ever pinged: the first ping goes at once.
	send()
	advance(time.Second)
	r.SendHeartbeats()
	answer()
	if got := sends(); !slices.EqualFunc(got, [][]byte{{0}, {hbPing}}, slices.Equal) {
		t.Fatalf("data, then the first ping: sends %v, want the data, then the ping on its own", got)
	}
	send()
	advance(time.Second)
	r.SendHeartbeats()
	if got := sends(); !slices.EqualFunc(got, [][]byte{{0}}, slices.Equal) {
		t.Fatalf("data, then a ping due: sends %v, want the data alone (the ping waits for more)", got)
	}
	send()
	if got := sends(); !slices.EqualFunc(got, [][]byte{{0, hbPing}}, slices.Equal) {
		t.Fatalf("next data: sends %v, want the data frame and the ping in one Send", got)
	}
	if n := peerB.txFrames.Load(); n != 3 {
		t.Fatalf("%d frames counted sent, want 3 (the ping is not data)", n)
	}
	answer()
	if h := r.LinkHealth()[nameB]; !h.Unanswered.IsZero() {
		t.Fatalf("the ping that rode was answered, but the link is unanswered since %v", h.Unanswered)
	}
	// Data was sent since that ping: the next one waits to ride, finds no
	// data, and goes on its own at the call after.
	advance(time.Second)
	r.SendHeartbeats()
	if got := sends(); len(got) != 0 {
		t.Fatalf("a ping due after data: sends %v, want none yet", got)
	}
	advance(time.Second)
	r.SendHeartbeats()
	if got := sends(); !slices.EqualFunc(got, [][]byte{{hbPing}}, slices.Equal) {
		t.Fatalf("no data to ride: sends %v, want the ping on its own", got)
	}
}

// hbRig is router A with one neighbour, B, on a mover transport: the test
// moves A's monotonic clock, hands it B's heartbeats and reads what it
// sent.
type hbRig struct {
	t  *testing.T
	r  *Router
	tr *mover
}

func newHBRig(t *testing.T) *hbRig {
	t.Helper()
	tr := &mover{}
	r, err := New(Config{Self: nameA, Device: newFakeDevice(), Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	r.SetPeers([]link.Peer{{Name: nameB, Endpoint: transport.AddrPortEndpoint(regB)}})
	return &hbRig{t: t, r: r, tr: tr}
}

// advance moves the router's clock on by d (its clock counts from born).
func (h *hbRig) advance(d time.Duration) { h.r.born = h.r.born.Add(-d) }

// from hands the router a heartbeat of B's, stamped now.
func (h *hbRig) from(kind, flags byte) {
	h.t.Helper()
	f := make([]byte, heartbeatLen)
	putHeartbeatFlags(f, kind, flags, h.r.mono())
	if !receive(h.r, h.tr, regB, false, f) {
		h.t.Fatal("heartbeat refused")
	}
}

// sent returns what the router sent since the last call: the first
// frame's heartbeat kind and flags per Send, and per Send every frame's
// kind (0 for data).
func (h *hbRig) sent() (kinds, flags []byte, sends [][]byte) {
	h.tr.mu.Lock()
	defer h.tr.mu.Unlock()
	kinds, flags, sends = h.tr.kinds, h.tr.flags, h.tr.sends
	h.tr.to, h.tr.kinds, h.tr.flags, h.tr.sends = nil, nil, nil, nil
	return kinds, flags, sends
}
