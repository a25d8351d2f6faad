package ethswitch

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// refSwitch is a slow, obviously correct model of Switch: a plain map, two
// slices for the CLOCK lists, one frame at a time, no locks, no slab. It
// implements the same eviction policy so that whole table contents can be
// compared even when the table is full.
type refSwitch struct {
	self                   frame.PeerName
	max                    int
	maxAge, echo, refresh  int64
	macs                   map[frame.MAC]*refEntry
	probation, established []frame.MAC // head first
	st                     Stats
}

type refEntry struct {
	owner frame.PeerName
	seen  int64
	ref   bool
}

func newRef(s *Switch) *refSwitch {
	return &refSwitch{
		self: s.self, max: s.max, maxAge: s.maxAge, echo: s.echo, refresh: s.refresh,
		macs: map[frame.MAC]*refEntry{},
	}
}

func (r *refSwitch) drop(counter *uint64) Decision {
	*counter++
	return Decision{Action: Drop}
}

// learn makes owner own mac at now, inserting, moving or refreshing.
func (r *refSwitch) learn(mac frame.MAC, owner frame.PeerName, now int64) {
	e, ok := r.macs[mac]
	switch {
	case !ok:
		if len(r.macs) == r.max {
			r.evict()
			r.st.Evictions++
		}
		r.macs[mac] = &refEntry{owner: owner, seen: now}
		r.probation = append(r.probation, mac)
		r.st.Learned++
	case e.owner != owner:
		e.owner, e.seen, e.ref = owner, now, true
		r.st.Moves++
	default:
		e.ref = true
		if now-e.seen >= r.refresh {
			e.seen = now
		}
	}
}

func (r *refSwitch) evict() {
	for chances := 0; ; chances++ {
		fromProbation := len(r.probation) > 0
		var mac frame.MAC
		if fromProbation {
			mac = r.probation[0]
		} else {
			mac = r.established[0]
		}
		e := r.macs[mac]
		if chances < maxSecondChances && e.ref {
			e.ref = false
			r.unlist(mac)
			r.established = append(r.established, mac)
			continue
		}
		r.delete(mac)
		return
	}
}

func (r *refSwitch) unlist(mac frame.MAC) {
	notMAC := func(m frame.MAC) bool { return m == mac }
	r.probation = slices.DeleteFunc(r.probation, notMAC)
	r.established = slices.DeleteFunc(r.established, notMAC)
}

func (r *refSwitch) delete(mac frame.MAC) {
	delete(r.macs, mac)
	r.unlist(mac)
}

func (r *refSwitch) owner(mac frame.MAC) frame.PeerName {
	if e, ok := r.macs[mac]; ok {
		return e.owner
	}
	return frame.UnknownPeer
}

func linkLocal(m frame.MAC) bool {
	return m[0] == 1 && m[1] == 0x80 && m[2] == 0xc2 && m[3] == 0 && m[4] == 0 && m[5] < 16
}

func (r *refSwitch) fromLocal(f []byte, now int64) (Decision, frame.Meta) {
	meta := frame.Meta{Src: r.self}
	if len(f) < 14 {
		return r.drop(&r.st.DropMalformed), meta
	}
	dst, src := frame.MAC(f[0:6]), frame.MAC(f[6:12])
	if src[0]&1 == 1 {
		return r.drop(&r.st.DropMulticastSrc), meta
	}
	if e, ok := r.macs[src]; ok && e.owner != r.self && now-e.seen < r.echo {
		return r.drop(&r.st.DropEcho), meta
	}
	r.learn(src, r.self, now)
	switch owner := r.owner(dst); {
	case linkLocal(dst):
		return r.drop(&r.st.DropLinkLocal), meta
	case dst[0]&1 == 1 || owner == frame.UnknownPeer:
		r.st.Flooded++
		return Decision{Action: Flood}, meta
	case owner == r.self:
		return r.drop(&r.st.DropLocalDst), meta
	default:
		r.st.Unicast++
		meta.Dst = owner
		return Decision{Action: Peer, Peer: owner}, meta
	}
}

func (r *refSwitch) fromPeer(f []byte, m frame.Meta, now int64) Decision {
	if len(f) < 14 {
		return r.drop(&r.st.DropMalformed)
	}
	if m.Src == frame.UnknownPeer {
		return r.drop(&r.st.DropNoSrcPeer)
	}
	if m.Src == r.self {
		return r.drop(&r.st.DropOwnFrame)
	}
	if m.Dst != frame.UnknownPeer && m.Dst != r.self {
		r.st.Relayed++
		return Decision{Action: Peer, Peer: m.Dst}
	}
	dst, src := frame.MAC(f[0:6]), frame.MAC(f[6:12])
	if src[0]&1 == 1 {
		return r.drop(&r.st.DropMulticastSrc)
	}
	r.learn(src, m.Src, now)
	if linkLocal(dst) {
		return r.drop(&r.st.DropLinkLocal)
	}
	if m.Dst == r.self || (dst[0]&1 == 0 && r.owner(dst) == r.self) {
		r.st.Local++
		return Decision{Action: Local}
	}
	if dst[0]&1 == 0 && r.owner(dst) != frame.UnknownPeer {
		r.st.FloodOnly++
		return Decision{Action: Flood}
	}
	r.st.LocalAndFlood++
	return Decision{Action: LocalAndFlood}
}

func (r *refSwitch) removeIf(drop func(*refEntry) bool) int {
	n := 0
	for mac, e := range r.macs {
		if drop(e) {
			r.delete(mac)
			n++
		}
	}
	return n
}

func (r *refSwitch) forgetPeer(p frame.PeerName) int {
	if p == frame.UnknownPeer {
		return 0
	}
	n := r.removeIf(func(e *refEntry) bool { return e.owner == p })
	r.st.Forgotten += uint64(n)
	return n
}

func (r *refSwitch) expire(now int64) int {
	n := r.removeIf(func(e *refEntry) bool { return now-e.seen > r.maxAge })
	r.st.Expired += uint64(n)
	return n
}

// compareState fails t unless s and r hold the same entries (owner, seen,
// referenced bit), the same list orders and the same counters.
func compareState(t *testing.T, step int, s *Switch, r *refSwitch) {
	t.Helper()
	checkInvariants(t, s)
	s.fdb.RLock()
	defer s.fdb.RUnlock()
	for _, lists := range []struct {
		real *list
		ref  []frame.MAC
	}{{&s.fdb.probation, r.probation}, {&s.fdb.established, r.established}} {
		var got []frame.MAC
		for p := lists.real.head; p != nilPos; p = s.fdb.slab[p].next {
			e := &s.fdb.slab[p]
			mac := keyMAC(e.key)
			got = append(got, mac)
			want, ok := r.macs[mac]
			if !ok {
				t.Fatalf("step %d: %v in switch, not in reference", step, mac)
			}
			if e.owner != want.owner || e.seen.Load() != want.seen || e.ref.Load() != want.ref {
				t.Fatalf("step %d: %v: switch {%v %d %v}, reference %+v", step, mac, e.owner, e.seen.Load(), e.ref.Load(), *want)
			}
		}
		if !slices.Equal(got, lists.ref) {
			t.Fatalf("step %d: list order %v, reference %v", step, got, lists.ref)
		}
	}
	want := r.st
	want.Entries = len(r.macs)
	if got := s.Stats(); got != want {
		t.Fatalf("step %d: stats\n got %+v\nwant %+v", step, got, want)
	}
}

// TestDifferential runs thousands of random operations against the Switch
// and the reference model and requires the same decisions, the same Meta
// and the same table after every operation.
func TestDifferential(t *testing.T) {
	tests := []struct {
		name       string
		maxEntries int
		universe   int  // distinct unicast MACs in play
		slowClock  bool // small clock steps: entries stay referenced
	}{
		{"table never full", 64, 24, false},
		{"table full, evicting", 8, 24, false},
		{"single entry", 1, 4, false},
		{"second-chance cap reached", 100, 110, true},
	}
	for _, tt := range tests {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", tt.name, seed), func(t *testing.T) {
				st := differential(t, seed, tt.maxEntries, tt.universe, tt.slowClock, 4000)
				if st.Evictions == 0 && tt.maxEntries < tt.universe/2 {
					t.Errorf("no evictions exercised")
				}
				if st.Moves == 0 || st.DropEcho == 0 || st.Learned == 0 {
					t.Errorf("paths not exercised: %+v", st)
				}
			})
		}
	}
}

// differential runs steps random operations on a Switch and the reference
// and returns the reference's counters.
func differential(t *testing.T, seed uint64, maxEntries, universe int, slowClock bool, steps int) Stats {
	rnd := rand.New(rand.NewPCG(seed, 0x5eed))
	s, clk := newTestSwitch(t, maxEntries)
	r := newRef(s)
	peers := []frame.PeerName{frame.UnknownPeer, self, peerB, peerC, peerD}
	pick := func() frame.PeerName { return peers[rnd.IntN(len(peers))] }
	mac := func() frame.MAC {
		switch rnd.IntN(40) {
		case 0:
			return frame.Broadcast
		case 1:
			return mcast
		case 2:
			return frame.MAC{1, 0x80, 0xc2, 0, 0, byte(rnd.IntN(20))}
		}
		return frame.MAC{2, 0, 0, 0, 0, byte(rnd.IntN(universe))}
	}
	advances := []time.Duration{0, 0, time.Millisecond, 300 * time.Millisecond, time.Second - 1,
		time.Second, 2*time.Second - 1, 2 * time.Second, 3 * time.Second, 11 * time.Second}
	if slowClock {
		advances = advances[:4]
	}
	b := frame.NewBatch(16, 4)
	out := make([]Decision, 16)

	for step := range steps {
		clk.Advance(advances[rnd.IntN(len(advances))])
		now := clk.ns.Load() // Switch.base is the epoch
		switch op := rnd.IntN(100); {
		case op < 80:
			fromPeer := op >= 40
			b.N = 1 + rnd.IntN(b.Cap())
			for i := range b.N {
				size := 64
				if rnd.IntN(30) == 0 {
					size = rnd.IntN(14)
				}
				setFrame(b, i, mac(), mac(), size)
				b.Meta[i] = frame.Meta{Src: pick(), Dst: pick(), Via: pick()}
				if rnd.IntN(2) == 0 {
					b.Meta[i].Dst = frame.UnknownPeer
				}
			}
			want := make([]frame.Meta, b.N)
			copy(want, b.Meta)
			if fromPeer {
				s.FromPeer(b, out)
			} else {
				s.FromLocal(b, out)
			}
			for i := range b.N {
				var d Decision
				if fromPeer {
					d = r.fromPeer(b.Frame(i), want[i], now)
				} else {
					d, want[i] = r.fromLocal(b.Frame(i), now)
				}
				if out[i] != d || b.Meta[i] != want[i] {
					t.Fatalf("step %d frame %d (fromPeer %v): %+v %+v, reference %+v %+v",
						step, i, fromPeer, out[i], b.Meta[i], d, want[i])
				}
			}
		case op < 88:
			if got, want := s.Expire(), r.expire(now); got != want {
				t.Fatalf("step %d: Expire %d, reference %d", step, got, want)
			}
		case op < 91:
			p := pick()
			if got, want := s.ForgetPeer(p), r.forgetPeer(p); got != want {
				t.Fatalf("step %d: ForgetPeer(%v) %d, reference %d", step, p, got, want)
			}
		default:
			m := mac()
			got, ok := s.Lookup(m)
			if want := r.owner(m); got != want || ok != (want != frame.UnknownPeer) {
				t.Fatalf("step %d: Lookup(%v) = %v %v, reference %v", step, m, got, ok, want)
			}
		}
		compareState(t, step, s, r)
	}
	return r.st
}

// FuzzDifferential explores more seeds and table sizes than
// TestDifferential, with shorter runs.
func FuzzDifferential(f *testing.F) {
	f.Add(uint64(1), uint8(8), false)
	f.Add(uint64(2), uint8(1), true)
	f.Add(uint64(3), uint8(200), false)
	f.Fuzz(func(t *testing.T, seed uint64, maxEntries uint8, slowClock bool) {
		differential(t, seed, 1+int(maxEntries)%100, 40, slowClock, 300)
	})
}
