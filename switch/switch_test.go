package ethswitch

import (
	"errors"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr error
	}{
		{"defaults", Config{Self: self}, nil},
		{"no self", Config{}, ErrNoSelf},
		{"self over 48 bits", Config{Self: 1 << 48}, ErrInvalidConfig},
		{"negative max entries", Config{Self: self, MaxEntries: -1}, ErrInvalidConfig},
		{"too many entries", Config{Self: self, MaxEntries: MaxMaxEntries + 1}, ErrInvalidConfig},
		{"negative max age", Config{Self: self, MaxAge: -time.Second}, ErrInvalidConfig},
		{"negative echo window", Config{Self: self, EchoWindow: -time.Second}, ErrInvalidConfig},
		{"one entry", Config{Self: self, MaxEntries: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: error %v, want %v", err, tt.wantErr)
			}
			if err == nil && s.max != tt.cfg.withDefaults().MaxEntries {
				t.Errorf("max entries %d", s.max)
			}
		})
	}
}

// prior is a table entry set up before a test case, owned by peer and
// last seen ago before the decision.
type prior struct {
	mac  frame.MAC
	peer frame.PeerName
	ago  time.Duration
}

// setup builds a switch holding the priors, with the clock at "now".
func setup(t *testing.T, priors []prior) (*Switch, *fakeClock) {
	s, clk := newTestSwitch(t, 0)
	const start = time.Hour
	clk.Advance(start)
	for _, p := range priors {
		clk.ns.Store(int64(start - p.ago))
		learnAt(s, p.mac, p.peer)
	}
	clk.ns.Store(int64(start))
	return s, clk
}

func TestFromLocal(t *testing.T) {
	ew := 2 * time.Second
	tests := []struct {
		name      string
		priors    []prior
		dst, src  frame.MAC
		size      int // 0 means 64
		want      Decision
		wantOwner frame.PeerName // owner of src afterwards; 0: absent
		stat      func(Stats) uint64
	}{
		{"broadcast floods and learns", nil, frame.Broadcast, macA, 0,
			Decision{Action: Flood}, self, func(s Stats) uint64 { return s.Learned }},
		{"multicast floods", nil, mcast, macA, 0,
			Decision{Action: Flood}, self, func(s Stats) uint64 { return s.Flooded }},
		{"unknown unicast floods", nil, macX, macA, 0,
			Decision{Action: Flood}, self, func(s Stats) uint64 { return s.Flooded }},
		{"known remote unicast", []prior{{macX, peerB, 0}}, macX, macA, 0,
			Decision{Action: Peer, Peer: peerB}, self, func(s Stats) uint64 { return s.Unicast }},
		{"jumbo known remote unicast", []prior{{macX, peerC, 0}}, macX, macA, 9000,
			Decision{Action: Peer, Peer: peerC}, self, func(s Stats) uint64 { return s.Unicast }},
		{"local destination dropped", []prior{{macY, self, 0}}, macY, macA, 0,
			Decision{}, self, func(s Stats) uint64 { return s.DropLocalDst }},
		{"13 bytes is malformed", nil, macX, macA, 13,
			Decision{}, 0, func(s Stats) uint64 { return s.DropMalformed }},
		{"14 bytes is enough", nil, macX, macA, 14,
			Decision{Action: Flood}, self, func(s Stats) uint64 { return s.Flooded }},
		{"multicast source dropped", nil, macX, mcast, 0,
			Decision{}, 0, func(s Stats) uint64 { return s.DropMulticastSrc }},
		{"stp dropped after learning", nil, stpMAC, macA, 0,
			Decision{}, self, func(s Stats) uint64 { return s.DropLinkLocal }},
		{"lldp dropped", nil, lldpMAC, macA, 0,
			Decision{}, self, func(s Stats) uint64 { return s.DropLinkLocal }},
		{"01:80:c2:00:00:10 is not link-local", nil, notLLMAC, macA, 0,
			Decision{Action: Flood}, self, func(s Stats) uint64 { return s.Flooded }},
		{"echo of a remote MAC dropped, not moved", []prior{{macA, peerB, 0}}, frame.Broadcast, macA, 0,
			Decision{}, peerB, func(s Stats) uint64 { return s.DropEcho }},
		{"echo just inside the window", []prior{{macA, peerB, ew - 1}}, macX, macA, 0,
			Decision{}, peerB, func(s Stats) uint64 { return s.DropEcho }},
		{"remote owner silent for the window: MAC moves here", []prior{{macA, peerB, ew}}, frame.Broadcast, macA, 0,
			Decision{Action: Flood}, self, func(s Stats) uint64 { return s.Moves }},
		{"refresh of a local MAC", []prior{{macA, self, time.Minute}, {macX, peerB, 0}}, macX, macA, 0,
			Decision{Action: Peer, Peer: peerB}, self, func(s Stats) uint64 { return s.Unicast }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := setup(t, tt.priors)
			size := tt.size
			if size == 0 {
				size = 64
			}
			before := tt.stat(s.Stats())
			got, meta := one(s, false, tt.dst, tt.src, size, frame.Meta{Src: peerD, Dst: peerD, Via: peerD})
			if got != tt.want {
				t.Errorf("decision %+v, want %+v", got, tt.want)
			}
			wantMeta := frame.Meta{Src: self, Dst: tt.want.Peer}
			if meta != wantMeta {
				t.Errorf("meta %+v, want %+v", meta, wantMeta)
			}
			if owner, _ := s.Lookup(tt.src); owner != tt.wantOwner {
				t.Errorf("owner of src %v, want %v", owner, tt.wantOwner)
			}
			if d := tt.stat(s.Stats()) - before; d != 1 {
				t.Errorf("counter moved by %d, want 1", d)
			}
			if tt.wantOwner == self {
				// The entry was seen now (or refreshed): it must not expire
				// before MaxAge from now.
				for _, e := range s.Entries() {
					if e.MAC == tt.src && clk.Now().Sub(e.LastSeen) >= s.effectiveRefresh() {
						t.Errorf("last seen %v ago", clk.Now().Sub(e.LastSeen))
					}
				}
			}
			checkInvariants(t, s)
		})
	}
}

func (s *Switch) effectiveRefresh() time.Duration { return time.Duration(s.refresh) }

func TestFromPeer(t *testing.T) {
	tests := []struct {
		name      string
		priors    []prior
		meta      frame.Meta
		dst, src  frame.MAC
		size      int
		want      Decision
		wantOwner frame.PeerName // owner of src afterwards; 0: absent
		stat      func(Stats) uint64
	}{
		{"relay to another peer, nothing learned", nil, frame.Meta{Src: peerB, Dst: peerC, Via: peerB}, macX, macA, 0,
			Decision{Action: Peer, Peer: peerC}, 0, func(s Stats) uint64 { return s.Relayed }},
		{"malformed relay dropped", nil, frame.Meta{Src: peerB, Dst: peerC}, macX, macA, 10,
			Decision{}, 0, func(s Stats) uint64 { return s.DropMalformed }},
		{"own frame dropped", nil, frame.Meta{Src: self, Via: peerB}, frame.Broadcast, macA, 0,
			Decision{}, 0, func(s Stats) uint64 { return s.DropOwnFrame }},
		{"own frame dropped even if addressed elsewhere", nil, frame.Meta{Src: self, Dst: peerC}, macX, macA, 0,
			Decision{}, 0, func(s Stats) uint64 { return s.DropOwnFrame }},
		{"unknown source peer dropped", nil, frame.Meta{Via: peerB}, frame.Broadcast, macA, 0,
			Decision{}, 0, func(s Stats) uint64 { return s.DropNoSrcPeer }},
		{"broadcast delivered and flooded, learned", nil, frame.Meta{Src: peerB, Via: peerB}, frame.Broadcast, macA, 0,
			Decision{Action: LocalAndFlood}, peerB, func(s Stats) uint64 { return s.Learned }},
		{"learns the originating peer, not the relay", nil, frame.Meta{Src: peerB, Via: peerC}, frame.Broadcast, macA, 0,
			Decision{Action: LocalAndFlood}, peerB, func(s Stats) uint64 { return s.LocalAndFlood }},
		{"unknown unicast delivered and flooded", nil, frame.Meta{Src: peerB}, macX, macA, 0,
			Decision{Action: LocalAndFlood}, peerB, func(s Stats) uint64 { return s.LocalAndFlood }},
		{"multicast delivered and flooded", nil, frame.Meta{Src: peerB}, mcast, macA, 0,
			Decision{Action: LocalAndFlood}, peerB, func(s Stats) uint64 { return s.LocalAndFlood }},
		{"flooded frame for a local MAC stops here", []prior{{macY, self, 0}}, frame.Meta{Src: peerB}, macY, macA, 0,
			Decision{Action: Local}, peerB, func(s Stats) uint64 { return s.Local }},
		{"unicast to us, local MAC", []prior{{macY, self, 0}}, frame.Meta{Src: peerB, Dst: self}, macY, macA, 0,
			Decision{Action: Local}, peerB, func(s Stats) uint64 { return s.Local }},
		{"unicast to us, unknown MAC: deliver, no flood", nil, frame.Meta{Src: peerB, Dst: self}, macX, macA, 0,
			Decision{Action: Local}, peerB, func(s Stats) uint64 { return s.Local }},
		{"unicast to us, MAC we place on another peer", []prior{{macX, peerC, 0}}, frame.Meta{Src: peerB, Dst: self}, macX, macA, 0,
			Decision{Action: Local}, peerB, func(s Stats) uint64 { return s.Local }},
		{"flooded, MAC we place on another peer: passed on, not delivered", []prior{{macX, peerC, 0}}, frame.Meta{Src: peerB}, macX, macA, 0,
			Decision{Action: Flood}, peerB, func(s Stats) uint64 { return s.FloodOnly }},
		{"flooded, MAC we place on its sender: passed on, not delivered", []prior{{macX, peerB, 0}}, frame.Meta{Src: peerB}, macX, macA, 0,
			Decision{Action: Flood}, peerB, func(s Stats) uint64 { return s.FloodOnly }},
		{"forced move between remote peers", []prior{{macA, peerC, 0}}, frame.Meta{Src: peerB}, frame.Broadcast, macA, 0,
			Decision{Action: LocalAndFlood}, peerB, func(s Stats) uint64 { return s.Moves }},
		{"forced move away from us", []prior{{macA, self, 0}}, frame.Meta{Src: peerB}, frame.Broadcast, macA, 0,
			Decision{Action: LocalAndFlood}, peerB, func(s Stats) uint64 { return s.Moves }},
		{"multicast source dropped", nil, frame.Meta{Src: peerB}, macX, mcast, 0,
			Decision{}, 0, func(s Stats) uint64 { return s.DropMulticastSrc }},
		{"link-local destination dropped after learning", nil, frame.Meta{Src: peerB}, stpMAC, macA, 0,
			Decision{}, peerB, func(s Stats) uint64 { return s.DropLinkLocal }},
		{"malformed dropped", nil, frame.Meta{Src: peerB}, frame.Broadcast, macA, 1,
			Decision{}, 0, func(s Stats) uint64 { return s.DropMalformed }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := setup(t, tt.priors)
			size := tt.size
			if size == 0 {
				size = 64
			}
			before := tt.stat(s.Stats())
			got, meta := one(s, true, tt.dst, tt.src, size, tt.meta)
			if got != tt.want {
				t.Errorf("decision %+v, want %+v", got, tt.want)
			}
			if meta != tt.meta {
				t.Errorf("meta changed to %+v", meta)
			}
			if owner, _ := s.Lookup(tt.src); owner != tt.wantOwner {
				t.Errorf("owner of src %v, want %v", owner, tt.wantOwner)
			}
			if d := tt.stat(s.Stats()) - before; d != 1 {
				t.Errorf("counter moved by %d, want 1", d)
			}
			checkInvariants(t, s)
		})
	}
}

// TestLearnThenForward checks that learning in one direction drives the
// decisions in the other, within one batch too.
func TestLearnThenForward(t *testing.T) {
	s, _ := newTestSwitch(t, 0)
	b := frame.NewBatch(3, 0)
	out := make([]Decision, 3)
	// A frame from B teaches macX@B; a local frame to macX in the same
	// batch direction later goes straight to B.
	setFrame(b, 0, frame.Broadcast, macX, 60)
	b.Meta[0] = frame.Meta{Src: peerB, Via: peerC}
	b.N = 1
	s.FromPeer(b, out)
	if out[0].Action != LocalAndFlood {
		t.Fatalf("FromPeer: %+v", out[0])
	}
	// Local batch: frame 0 teaches macA@self, frame 1 (to macA) must then
	// be dropped as local, frame 2 goes to B.
	setFrame(b, 0, frame.Broadcast, macA, 60)
	setFrame(b, 1, macA, macY, 60)
	setFrame(b, 2, macX, macA, 60)
	b.N = 3
	s.FromLocal(b, out)
	want := []Decision{{Action: Flood}, {Action: Drop}, {Action: Peer, Peer: peerB}}
	for i := range want {
		if out[i] != want[i] {
			t.Errorf("frame %d: %+v, want %+v", i, out[i], want[i])
		}
	}
	if st := s.Stats(); st.Entries != 3 || st.Learned != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestForgetPeer(t *testing.T) {
	tests := []struct {
		name   string
		forget frame.PeerName
		want   int
		left   []frame.PeerName
	}{
		{"remote peer", peerB, 2, []frame.PeerName{peerC, self}},
		{"self", self, 1, []frame.PeerName{peerB, peerB, peerC}},
		{"unknown peer name", frame.UnknownPeer, 0, []frame.PeerName{peerB, peerB, peerC, self}},
		{"absent peer", peerD, 0, []frame.PeerName{peerB, peerB, peerC, self}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := setup(t, []prior{
				{frame.MAC{2, 0, 0, 0, 0, 1}, peerB, 0},
				{frame.MAC{2, 0, 0, 0, 0, 2}, peerB, 0},
				{frame.MAC{2, 0, 0, 0, 0, 3}, peerC, 0},
				{frame.MAC{2, 0, 0, 0, 0, 4}, self, 0},
			})
			if got := s.ForgetPeer(tt.forget); got != tt.want {
				t.Errorf("ForgetPeer = %d, want %d", got, tt.want)
			}
			var left []frame.PeerName
			for _, e := range s.Entries() {
				left = append(left, e.Peer)
			}
			if len(left) != len(tt.left) {
				t.Fatalf("left %v, want %v", left, tt.left)
			}
			for i := range left {
				if left[i] != tt.left[i] {
					t.Fatalf("left %v, want %v", left, tt.left)
				}
			}
			if st := s.Stats(); st.Forgotten != uint64(tt.want) || st.Entries != len(tt.left) {
				t.Errorf("stats %+v", st)
			}
			checkInvariants(t, s)
		})
	}
}

func TestExpire(t *testing.T) {
	const maxAge = 10 * time.Second // newTestSwitch; refresh is 1s
	tests := []struct {
		name    string
		idle    time.Duration // since the entry was learned
		touched time.Duration // if non-zero, seen again at this time after learning
		want    int
	}{
		{"fresh", time.Second, 0, 0},
		{"exactly max age", maxAge, 0, 0},
		{"just past max age", maxAge + 1, 0, 1},
		{"long gone", time.Hour, 0, 1},
		{"refreshed keeps it", maxAge + 1, 5 * time.Second, 0},
		{"refresh too soon is not recorded", maxAge + 1, time.Second - 1, 1},
		{"refresh at the interval is recorded", maxAge + 1, time.Second, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newTestSwitch(t, 0)
			learnAt(s, macA, peerB)
			learnAt(s, macX, self)
			if tt.touched != 0 {
				clk.Advance(tt.touched)
				learnAt(s, macA, peerB)
				learnAt(s, macX, self)
				clk.Advance(-tt.touched)
			}
			clk.Advance(tt.idle)
			if got := s.Expire(); got != 2*tt.want {
				t.Errorf("Expire = %d, want %d", got, 2*tt.want)
			}
			if _, ok := s.Lookup(macA); ok != (tt.want == 0) {
				t.Errorf("Lookup ok = %v", ok)
			}
			if st := s.Stats(); st.Expired != uint64(2*tt.want) || st.Entries != 2-2*tt.want {
				t.Errorf("stats %+v", st)
			}
			checkInvariants(t, s)
		})
	}
}

func TestActionString(t *testing.T) {
	for a, want := range map[Action]string{Drop: "Drop", Peer: "Peer", LocalAndFlood: "LocalAndFlood", 9: "Action(9)"} {
		if got := a.String(); got != want {
			t.Errorf("%d: %q, want %q", a, got, want)
		}
	}
}

// TestTouch: traffic the kernel fast path carried keeps an entry alive,
// but only for the owner it was offloaded to.
func TestTouch(t *testing.T) {
	s, clk := newTestSwitch(t, 0) // MaxAge 10s
	learnAt(s, macA, peerB)
	clk.Advance(8 * time.Second)
	if !s.Touch(macA, peerB) {
		t.Fatal("Touch of a known MAC with its owner returned false")
	}
	if s.Touch(macA, self) {
		t.Error("Touch with another owner returned true")
	}
	if s.Touch(macX, peerB) {
		t.Error("Touch of an unknown MAC returned true")
	}
	clk.Advance(8 * time.Second) // 16s after learning, 8s after the touch
	if n := s.Expire(); n != 0 {
		t.Errorf("Expire removed %d touched entries", n)
	}
	if p, ok := s.Lookup(macA); !ok || p != peerB {
		t.Errorf("Lookup = %v %v after Touch, want peerB", p, ok)
	}
	clk.Advance(11 * time.Second)
	if n := s.Expire(); n != 1 {
		t.Errorf("Expire removed %d, want the untouched entry", n)
	}
}
