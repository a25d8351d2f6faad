package dns

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

const (
	peerA frame.PeerName = 0x020000000001
	peerB frame.PeerName = 0x020000000002
	peerC frame.PeerName = 0x020000000003
)

// clock is a settable clock for registries under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// liveSet is a fake Liveness.
type liveSet struct {
	mu   sync.Mutex
	dead map[frame.PeerName]bool
}

func (l *liveSet) Alive(p frame.PeerName) bool { l.mu.Lock(); defer l.mu.Unlock(); return !l.dead[p] }
func (l *liveSet) kill(p frame.PeerName)       { l.mu.Lock(); l.dead[p] = true; l.mu.Unlock() }

// NewRegistryWithClock is NewRegistry with a clock, for tests.
func NewRegistryWithClock(self frame.PeerName, now func() time.Time) *Registry {
	r := &Registry{self: self, Now: now, updated: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		regs: map[frame.PeerName]*held{}, deadSince: map[frame.PeerName]time.Time{}}
	r.putLocked(&Register{Owner: self, Stamp: r.stampMs()}, time.Time{})
	r.reindexLocked()
	return r
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// sync2 gossips both ways until neither changes.
func gossipAll(t *testing.T, rs ...*Registry) {
	t.Helper()
	for range 4 {
		for _, a := range rs {
			for _, b := range rs {
				if a != b {
					if err := b.GossipMerge(a.self, a.GossipState()); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

func TestRegistryAddLookupRemove(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	a, b := NewRegistryWithClock(peerA, c.now), NewRegistryWithClock(peerB, c.now)
	if err := a.Add("/run/netns/c1", "web.weave.local.", []netip.Addr{addr("10.32.0.1"), addr("fd00::1")}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("/run/netns/c2", "web.weave.local.", []netip.Addr{addr("10.32.0.2")}); err != nil {
		t.Fatal(err)
	}
	gossipAll(t, a, b)
	for _, r := range []*Registry{a, b} {
		got := r.Lookup("WEB.weave.local.")
		want := []netip.Addr{addr("10.32.0.1"), addr("10.32.0.2"), addr("fd00::1")}
		if !slices.Equal(got, want) {
			t.Fatalf("%s: lookup = %v, want %v", r.self, got, want)
		}
		if n := r.reverse(addr("10.32.0.2")); !slices.Equal(n, []string{"web.weave.local."}) {
			t.Fatalf("reverse = %v", n)
		}
	}
	c.add(time.Millisecond)
	if n, err := a.RemoveKey("/run/netns/c1"); err != nil || n != 2 {
		t.Fatalf("RemoveKey = %d, %v", n, err)
	}
	gossipAll(t, a, b)
	if got := b.Lookup("web.weave.local."); !slices.Equal(got, []netip.Addr{addr("10.32.0.2")}) {
		t.Fatalf("after removal b has %v", got)
	}
	// An old copy of a's register (before the removal) is not taken back.
	old := EncodeState([]*Register{{Owner: peerA, Stamp: 1, Entries: []Entry{{Name: "web.weave.local.", Addr: addr("10.32.0.1"), Key: "k"}}}})
	if err := b.GossipMerge(peerC, old); err != nil {
		t.Fatal(err)
	}
	if got := b.Lookup("web.weave.local."); len(got) != 1 {
		t.Fatalf("an old register came back: %v", got)
	}
}

func TestRegistryMergeConverges(t *testing.T) {
	// Random local changes on three replicas and gossip in random order
	// and pairs: every replica ends with the same state.
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	rs := []*Registry{NewRegistryWithClock(peerA, c.now), NewRegistryWithClock(peerB, c.now), NewRegistryWithClock(peerC, c.now)}
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"a.weave.local.", "b.weave.local.", "c.weave.local."}
	for i := range 500 {
		r := rs[rng.IntN(3)]
		switch rng.IntN(4) {
		case 0, 1:
			ad := netip.AddrFrom4([4]byte{10, 32, 0, byte(rng.IntN(8) + 1)})
			_ = r.Add("k"+string(rune('0'+rng.IntN(3))), names[rng.IntN(3)], []netip.Addr{ad})
		case 2:
			_, _ = r.RemoveKey("k" + string(rune('0'+rng.IntN(3))))
		case 3:
			from, to := rs[rng.IntN(3)], rs[rng.IntN(3)]
			if err := to.GossipMerge(from.self, from.GossipState()); err != nil {
				t.Fatal(err)
			}
		}
		if i%7 == 0 {
			c.add(time.Duration(rng.IntN(3)) * time.Millisecond)
		}
	}
	gossipAll(t, rs...)
	want := rs[0].State()
	for _, r := range rs[1:] {
		if got := r.State(); string(got) != string(want) {
			t.Fatalf("replicas differ after gossip")
		}
	}
}

func TestRegistryRefusesAhead(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	a := NewRegistryWithClock(peerA, c.now)
	for _, stamp := range []uint64{math.MaxUint64, a.stampMs() + uint64(2*time.Hour/time.Millisecond)} {
		forged := EncodeState([]*Register{{Owner: peerB, Stamp: stamp, Entries: []Entry{{Name: "evil.weave.local.", Addr: addr("10.32.9.9")}}}})
		if err := a.GossipMerge(peerC, forged); err != nil {
			t.Fatal(err)
		}
	}
	if a.Lookup("evil.weave.local.") != nil || a.Stats().Ahead != 2 {
		t.Fatalf("a register stamped far ahead was taken (stats %+v)", a.Stats())
	}
	// Within the skew it is taken, and the owner outbids it at once.
	b := NewRegistryWithClock(peerB, c.now)
	forged := EncodeState([]*Register{{Owner: peerB, Stamp: b.stampMs() + 1000, Entries: []Entry{{Name: "evil.weave.local.", Addr: addr("10.32.9.9")}}}})
	if err := a.GossipMerge(peerC, forged); err != nil {
		t.Fatal(err)
	}
	if a.Lookup("evil.weave.local.") == nil {
		t.Fatal("a forged register within the skew was not taken")
	}
	if err := b.GossipMerge(peerA, a.GossipState()); err != nil {
		t.Fatal(err)
	}
	if b.Stats().Superseded != 1 {
		t.Fatalf("the owner did not outbid a copy of itself: %+v", b.Stats())
	}
	gossipAll(t, a, b)
	if a.Lookup("evil.weave.local.") != nil {
		t.Fatal("the forged register survived the owner's answer")
	}
}

func TestRegistryGoneAndTombstones(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	a, b := NewRegistryWithClock(peerA, c.now), NewRegistryWithClock(peerB, c.now)
	live := &liveSet{dead: map[frame.PeerName]bool{}}
	a.SetLiveness(live)
	if err := b.Add("k", "b.weave.local.", []netip.Addr{addr("10.32.0.2")}); err != nil {
		t.Fatal(err)
	}
	gossipAll(t, a, b)
	stale := b.GossipState()
	a.Sweep()
	live.kill(peerB)
	a.Sweep() // dead since now
	c.add(DefaultGoneAfter - time.Second)
	a.Sweep()
	if a.Lookup("b.weave.local.") == nil {
		t.Fatal("names dropped before GoneAfter")
	}
	c.add(time.Second)
	a.Sweep()
	if a.Lookup("b.weave.local.") != nil {
		t.Fatal("names of a gone peer kept")
	}
	// A stale copy does not bring them back while the tombstone lasts.
	if err := a.GossipMerge(peerC, stale); err != nil {
		t.Fatal(err)
	}
	if a.Lookup("b.weave.local.") != nil {
		t.Fatal("a stale register beat the tombstone")
	}
	// The tombstone travels to a third router, which sees b dead too.
	c3 := NewRegistryWithClock(peerC, c.now)
	c3.SetLiveness(live)
	if err := c3.GossipMerge(peerB, stale); err != nil {
		t.Fatal(err)
	}
	if err := c3.GossipMerge(peerA, a.GossipState()); err != nil {
		t.Fatal(err)
	}
	if c3.Lookup("b.weave.local.") != nil {
		t.Fatal("the tombstone did not drop b's names on c")
	}
	// b comes back: its next change is stamped past the tombstone.
	c.add(time.Millisecond)
	if err := b.Add("k", "b2.weave.local.", []netip.Addr{addr("10.32.0.3")}); err != nil {
		t.Fatal(err)
	}
	live.mu.Lock()
	delete(live.dead, peerB)
	live.mu.Unlock()
	if err := a.GossipMerge(peerB, b.GossipState()); err != nil {
		t.Fatal(err)
	}
	if a.Lookup("b2.weave.local.") == nil {
		t.Fatal("a returning peer's new names were refused")
	}
	// Tombstones expire.
	if _, err := a.Forget(peerB); err == nil {
		t.Fatal("Forget of a live peer accepted")
	}
	live.kill(peerB)
	if had, err := a.Forget(peerB); err != nil || !had {
		t.Fatalf("Forget = %v, %v", had, err)
	}
	if len(a.Registers()) != 2 {
		t.Fatalf("registers %v", a.Registers())
	}
	c.add(DefaultTombstoneTTL)
	if st := a.State(); len(st) != stateHeaderSize+regHeaderSize {
		t.Fatalf("tombstone did not expire: %d bytes", len(st))
	}
	// A tombstone of a live peer is refused.
	tomb := EncodeState([]*Register{{Owner: peerC, Stamp: c3.stampMs() + 5, Gone: true}})
	if err := a.GossipMerge(peerB, tomb); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Alive != 1 {
		t.Fatalf("tombstone of a live peer: %+v", a.Stats())
	}
}

func TestRegistryBounds(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	a := NewRegistryWithClock(peerA, c.now)
	var addrs []netip.Addr
	for i := range MaxEntriesPerPeer + 1 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{10, 32, byte(i >> 8), byte(i)}))
	}
	if err := a.Add("k", "x.weave.local.", addrs[:MaxEntriesPerPeer]); err != nil {
		t.Fatal(err)
	}
	if err := a.Add("k", "y.weave.local.", addrs[:1]); !errors.Is(err, ErrFull) {
		t.Fatalf("entry past the bound: %v", err)
	}
	for _, bad := range []struct{ key, name string }{
		{"k", "UPPER.weave.local."}, {"k", "no-dot"}, {"k", "a..weave.local."}, {"k", "-a.weave.local."}, {"k y", "a.weave.local."},
	} {
		if err := a.Add(bad.key, bad.name, addrs[:1]); err == nil {
			t.Errorf("Add(%q, %q) accepted", bad.key, bad.name)
		}
	}
	// A state with more entries than a peer may have is refused whole.
	big := &Register{Owner: peerB, Stamp: 1}
	for i := range MaxEntriesPerPeer + 1 {
		big.Entries = append(big.Entries, Entry{Name: "x.weave.local.", Addr: netip.AddrFrom4([4]byte{10, 33, byte(i >> 8), byte(i)})})
	}
	if err := a.GossipMerge(peerB, EncodeState([]*Register{big})); err == nil {
		t.Fatal("a register past MaxEntriesPerPeer was taken")
	}
}

func TestRegistryPersistence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, StateFile)
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	a := NewRegistryWithClock(peerA, c.now)
	a.Save = func(b []byte) error { return os.WriteFile(path, b, 0o600) }
	if err := a.Add("k", "web.weave.local.", []netip.Addr{addr("10.32.0.1")}); err != nil {
		t.Fatal(err)
	}
	stamp := a.Registers()[0].Stamp
	// A failed save undoes the change.
	a.Save = func([]byte) error { return errors.New("disk full") }
	if err := a.Add("k", "db.weave.local.", []netip.Addr{addr("10.32.0.2")}); err == nil || a.Lookup("db.weave.local.") != nil {
		t.Fatalf("unsaved change kept: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A restart at the same clock: the names are back, stamped past.
	r := NewRegistryWithClock(peerA, c.now)
	if err := r.Restore(b); err != nil {
		t.Fatal(err)
	}
	if r.Lookup("web.weave.local.") == nil {
		t.Fatal("names lost across a restart")
	}
	if got := r.Registers()[0].Stamp; got <= stamp {
		t.Fatalf("restored stamp %d not past %d", got, stamp)
	}
}

func TestReverseAddr(t *testing.T) {
	for _, tt := range []struct {
		name string
		want string
	}{
		{"4.3.2.1.in-addr.arpa.", "1.2.3.4"},
		{"1.0.32.10.IN-ADDR.ARPA.", "10.32.0.1"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", "fd00::1"},
		{"3.2.1.in-addr.arpa.", ""},
		{"256.3.2.1.in-addr.arpa.", ""},
		{"01.3.2.1.in-addr.arpa.", ""},
		{"5.4.3.2.1.in-addr.arpa.", ""},
		{"x.ip6.arpa.", ""},
	} {
		a, ok := reverseAddr(tt.name)
		if got := ""; ok {
			got = a.String()
			if got != tt.want {
				t.Errorf("%s = %s, want %s", tt.name, got, tt.want)
			}
		} else if tt.want != "" {
			t.Errorf("%s not parsed, want %s", tt.name, tt.want)
		}
	}
}

func TestCanonicalName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"web", "web.weave.local."}, {"Web.Weave.Local", "web.weave.local."}, {"a.b.weave.local.", "a.b.weave.local."},
		{"example.com.", ""}, {"weave.local", ""}, {"", ""}, {"a_b", "a_b.weave.local."}, {"a b", ""},
	} {
		got, err := CanonicalName(tt.in, DefaultDomain)
		if (err == nil) != (tt.want != "") || got != tt.want {
			t.Errorf("CanonicalName(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSetKey(t *testing.T) {
	r := NewRegistry(peerA)
	a1, a2 := netip.MustParseAddr("10.32.0.1"), netip.MustParseAddr("10.32.0.2")
	if err := r.Add("k", "web.weave.local.", []netip.Addr{a1}); err != nil {
		t.Fatal(err)
	}
	if err := r.SetKey("k#docker", []string{"web.weave.local.", "www.weave.local."}, []netip.Addr{a1, a2}); err != nil {
		t.Fatal(err)
	}
	if got := r.LocalKeys(); !slices.Equal(got, []string{"k", "k#docker"}) {
		t.Fatalf("keys %v", got)
	}
	if n := r.localLen(); n != 5 {
		t.Fatalf("%d entries, want 5", n)
	}
	if err := r.SetKey("k#docker", []string{"web.weave.local."}, []netip.Addr{a2}); err != nil {
		t.Fatal(err)
	}
	if n := r.localLen(); n != 2 {
		t.Fatalf("%d entries after replacing, want 2", n)
	}
	if err := r.SetKey("k#docker", nil, nil); err != nil {
		t.Fatal(err)
	}
	if got := r.LocalKeys(); !slices.Equal(got, []string{"k"}) {
		t.Fatalf("keys %v after dropping", got)
	}
	if err := r.SetKey("k", []string{"Bad Name"}, []netip.Addr{a1}); err == nil {
		t.Fatal("SetKey took a bad name")
	}
}
