package alloc

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func newTest(t testing.TB, self frame.PeerName, u string, seeds []frame.PeerName, alive func(frame.PeerName) bool) *Allocator {
	t.Helper()
	a, err := New(Config{Self: self, Universe: netip.MustParsePrefix(u), Seeds: seeds, Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// exchange gossips the allocators' states to each other and ticks them
// until nothing changes.
func exchange(t testing.TB, as ...*Allocator) {
	t.Helper()
	for range 50 {
		changed := false
		for _, a := range as {
			a.Tick()
			if a.TakeDirty() {
				changed = true
			}
		}
		for _, a := range as {
			b := a.Encode()
			for _, o := range as {
				if o != a && b != nil {
					if err := o.Merge(b); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if !changed {
			return
		}
	}
}

func TestAllocateUniqueAndStable(t *testing.T) {
	a := newTest(t, 1, "10.32.0.0/24", []frame.PeerName{1}, nil)
	sub := netip.MustParsePrefix("10.32.0.0/24")
	seen := map[netip.Addr]bool{}
	for i := range 254 {
		ad, err := a.Allocate(fmt.Sprint("c", i), sub)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[ad] || ad == sub.Addr() || ad == netip.MustParseAddr("10.32.0.255") {
			t.Fatalf("allocation %d: %s (duplicate or reserved)", i, ad)
		}
		seen[ad] = true
	}
	if again, _ := a.Allocate("c7", sub); !seen[again] || len(a.Lookup("c7")) != 1 {
		t.Fatalf("a key's second allocation in a subnet gave %s, want its first", again)
	}
	_, err := a.Allocate("one-too-many", sub)
	var ex *ExhaustedError
	if !errors.As(err, &ex) || !errors.Is(err, ErrExhausted) {
		t.Fatalf("255th allocation: %v, want ExhaustedError", err)
	}
	t.Log(err)
	freed := a.Release("c9")
	if len(freed) != 1 {
		t.Fatalf("release freed %v", freed)
	}
	if ad, err := a.Allocate("new", sub); err != nil || ad != freed[0] {
		t.Fatalf("allocate after release: %s %v, want %s", ad, err, freed[0])
	}
}

func TestSubnets(t *testing.T) {
	u := DefaultUniverse
	if got := DefaultSubnet(u); got != netip.MustParsePrefix("10.32.0.0/13") {
		t.Errorf("default subnet %s", got)
	}
	web, err := AppSubnet(u, "web")
	if err != nil || web.Bits() != 24 || !netip.MustParsePrefix("10.40.0.0/13").Contains(web.Addr()) {
		t.Fatalf("app:web → %s %v", web, err)
	}
	if again, _ := AppSubnet(u, "web"); again != web {
		t.Error("app subnets are not deterministic")
	}
	tests := []struct {
		spec string
		want string
		ok   bool
	}{
		{"", "10.32.0.0/13", true},
		{"net:default", "10.32.0.0/13", true},
		{"net:10.32.5.0/24", "10.32.5.0/24", true},
		{"net:10.32.5.9/24", "10.32.5.0/24", true},
		{"app:web", web.String(), true},
		{"net:192.168.0.0/24", "", false},
		{"net:10.0.0.0/8", "", false},
		{"app:", "", false},
		{"bogus", "", false},
	}
	for _, tt := range tests {
		got, err := ParseSubnet(u, DefaultSubnet(u), tt.spec)
		if (err == nil) != tt.ok || tt.ok && got.String() != tt.want {
			t.Errorf("ParseSubnet(%q) = %s, %v; want %s ok=%v", tt.spec, got, err, tt.want, tt.ok)
		}
	}
}

func TestSpaceRequestAndClaim(t *testing.T) {
	all := func(frame.PeerName) bool { return true }
	// 1 seeds the ring alone; 2 joins through gossip and asks for space.
	a := newTest(t, 1, "10.32.0.0/16", []frame.PeerName{1}, all)
	b := newTest(t, 2, "10.32.0.0/16", nil, all)
	sub := netip.MustParsePrefix("10.32.0.0/17")
	if _, err := b.Allocate("x", sub); !errors.Is(err, ErrNoRing) {
		t.Fatalf("allocation without a ring: %v", err)
	}
	exchange(t, a, b)
	if _, err := b.Allocate("x", sub); !errors.Is(err, ErrPending) {
		t.Fatalf("allocation without space: %v, want ErrPending", err)
	}
	exchange(t, a, b)
	bx, err := b.Allocate("x", sub)
	if err != nil {
		t.Fatalf("allocation after the donation: %v", err)
	}
	ax, _ := a.Allocate("y", sub)
	if ax == bx {
		t.Fatalf("both peers allocated %s", ax)
	}
	// An explicit address in 1's range, claimed on 2, is granted to 2.
	want := netip.MustParseAddr("10.32.100.7")
	if err := b.Claim("z", want); !errors.Is(err, ErrPending) {
		t.Fatalf("claim in another peer's range: %v", err)
	}
	// While the claim waits, the address is z's: another key cannot
	// claim it, and Holder names z.
	if err := b.Claim("w", want); !errors.Is(err, ErrInUse) {
		t.Fatalf("second claim of a pending address: %v, want ErrInUse", err)
	}
	if k, ok := b.Holder(want); !ok || k != "z" {
		t.Fatalf("Holder(%s) = %q %v, want z", want, k, ok)
	}
	exchange(t, a, b)
	if got := b.Lookup("z"); len(got) != 1 || got[0] != want {
		t.Fatalf("claim not granted: %v", got)
	}
	if owner := a.st.Ring.Owner(want); owner != 2 {
		t.Fatalf("claimed address owned by %s", owner)
	}
	if err := b.Claim("other", want); !errors.Is(err, ErrInUse) {
		t.Fatalf("second claim: %v, want ErrInUse", err)
	}
}

func TestDifferentSeedsNeverMerge(t *testing.T) {
	a := newTest(t, 1, "10.32.0.0/16", []frame.PeerName{1}, nil)
	b := newTest(t, 2, "10.32.0.0/16", []frame.PeerName{2}, nil)
	if err := a.Merge(b.Encode()); !errors.Is(err, ErrDifferentRing) {
		t.Fatalf("merging another ring: %v", err)
	} else {
		t.Log(err)
	}
	c := newTest(t, 3, "10.33.0.0/16", nil, nil)
	if err := c.Merge(a.Encode()); !errors.Is(err, ErrDifferentRing) {
		t.Fatalf("merging another range: %v", err)
	}
}

// Two routers started alone seed a ring each; connected later, exactly
// one unused default ring gives way, and a used one never does.
func TestDefaultRingYields(t *testing.T) {
	mk := func(self frame.PeerName) *Allocator {
		a, err := New(Config{Self: self, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: []frame.PeerName{self}, Yield: true,
			Alive: func(frame.PeerName) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a, b := mk(1), mk(2)
	sa, sb := a.Encode(), b.Encode()
	ea, eb := a.Merge(sb), b.Merge(sa)
	if (ea == nil) == (eb == nil) {
		t.Fatalf("exactly one ring must give way: a.Merge=%v b.Merge=%v", ea, eb)
	}
	exchange(t, a, b)
	if string(a.Encode()) != string(b.Encode()) {
		t.Fatal("the two routers do not share one ring")
	}
	// A ring with an address in use never gives way.
	c := mk(3)
	if _, err := c.Allocate("x", DefaultSubnet(c.Universe())); err != nil {
		t.Fatal(err)
	}
	if err := c.Merge(a.Encode()); !errors.Is(err, ErrDifferentRing) {
		t.Fatalf("a used ring gave way: %v", err)
	}
}

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.db")
	open := func() (*Allocator, *BoltStore) {
		st, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(Config{Self: 1, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: []frame.PeerName{1, 2}, Store: st})
		if err != nil {
			t.Fatal(err)
		}
		return a, st
	}
	a, st := open()
	if _, err := a.Allocate("x", DefaultSubnet(a.Universe())); !errors.Is(err, ErrFresh) {
		t.Fatalf("allocation from a fresh multi-seed ring: %v, want ErrFresh", err)
	}
	b := newTest(t, 2, "10.32.0.0/16", []frame.PeerName{1, 2}, nil)
	if err := a.Merge(b.Encode()); err != nil {
		t.Fatal(err)
	}
	x, err := a.Allocate("x", DefaultSubnet(a.Universe()))
	if err != nil {
		t.Fatal(err)
	}
	a.Tick()
	st.Close()

	a, st = open()
	defer st.Close()
	if got := a.Lookup("x"); len(got) != 1 || got[0] != x {
		t.Fatalf("after a restart x has %v, want %s", got, x)
	}
	if !a.Ready() {
		t.Fatal("a restarted peer with a stored ring is not ready")
	}
	y, err := a.Allocate("y", DefaultSubnet(a.Universe()))
	if err != nil || y == x {
		t.Fatalf("allocation after restart: %s %v", y, err)
	}
	if _, err := New(Config{Self: 1, Universe: netip.MustParsePrefix("10.33.0.0/16"), Store: st}); err == nil {
		t.Fatal("a stored ring of another range was accepted")
	}
}

// seededThree returns peers 1, 2 and 3 of a ring they all seed, in
// 10.32.0.0/16, each taking a peer for alive while *up says so.
func seededThree(t testing.TB, up *map[frame.PeerName]bool) (a, b, c *Allocator) {
	alive := func(p frame.PeerName) bool { return (*up)[p] }
	seeds := []frame.PeerName{1, 2, 3}
	return newTest(t, 1, "10.32.0.0/16", seeds, alive), newTest(t, 2, "10.32.0.0/16", seeds, alive),
		newTest(t, 3, "10.32.0.0/16", seeds, alive)
}

func TestRmpeer(t *testing.T) {
	up := map[frame.PeerName]bool{1: true, 2: true, 3: true}
	a, b, c := seededThree(t, &up)
	exchange(t, a, b, c)
	if _, err := c.Allocate("cx", netip.MustParsePrefix("10.32.192.0/24")); err != nil {
		t.Fatal(err)
	}
	exchange(t, a, b, c)

	tests := []struct {
		name string
		dead []frame.PeerName
		up   map[frame.PeerName]bool
	}{
		{"self", []frame.PeerName{1}, up},
		{"alive", []frame.PeerName{3}, up},
		{"unknown", []frame.PeerName{9}, up},
		{"a member is unreachable", []frame.PeerName{3}, map[frame.PeerName]bool{1: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			saved := up
			up = tt.up
			defer func() { up = saved }()
			_, err := a.Propose(tt.dead)
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Propose = %v, want ErrRefused", err)
			}
			t.Log(err)
		})
	}

	// 3 dies; 1 reclaims its space once 2 agrees.
	up = map[frame.PeerName]bool{1: true, 2: true}
	seq, err := a.Propose([]frame.PeerName{3})
	if err != nil {
		t.Fatal(err)
	}
	a.Tick()
	if committed, _, waiting, running := a.ProposalStatus(seq); committed || !running || len(waiting) != 1 || waiting[0] != 2 {
		t.Fatalf("before 2 acked: committed=%v running=%v waiting=%v", committed, running, waiting)
	}
	if _, err := b.Propose([]frame.PeerName{3}); err != nil && !errors.Is(err, ErrRefused) {
		t.Fatal(err)
	}
	exchange(t, a, b)
	committed, n, _, _ := a.ProposalStatus(seq)
	if !committed || n != 65536-2*(65536/3) {
		t.Fatalf("after acks: committed=%v reclaimed=%d", committed, n)
	}
	for _, e := range b.st.Ring.Entries {
		if e.Owner == 3 {
			t.Fatalf("3 still owns %s", u32ToAddr(e.Token))
		}
	}
	if _, err := a.Propose([]frame.PeerName{3}); !errors.Is(err, ErrRefused) {
		t.Fatalf("second rmpeer of 3: %v", err)
	}
	// 3 comes back with its old data: it learns it was removed, drops its
	// allocation and rejoins without space.
	up[3] = true
	exchange(t, a, b, c)
	if c.Lost() != 1 || len(c.Lookup("cx")) != 0 || !c.me().active() || c.me().Epoch != 1 {
		t.Fatalf("removed peer after rejoining: lost=%d cx=%v member=%+v", c.Lost(), c.Lookup("cx"), c.me())
	}
}

func BenchmarkAllocateRelease(b *testing.B) {
	a := newTest(b, 1, "10.32.0.0/12", []frame.PeerName{1}, nil)
	sub := DefaultSubnet(a.Universe())
	for i := range 10000 {
		if _, err := a.Allocate(fmt.Sprint("fill", i), sub); err != nil {
			b.Fatal(err)
		}
	}
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k := keys[i%len(keys)]
		if _, err := a.Allocate(k, sub); err != nil {
			b.Fatal(err)
		}
		a.Release(k)
		i++
	}
}

func BenchmarkMerge(b *testing.B) {
	all := func(frame.PeerName) bool { return true }
	seeds := make([]frame.PeerName, 100)
	for i := range seeds {
		seeds[i] = frame.PeerName(i + 1)
	}
	a := newTest(b, 1, "10.32.0.0/12", seeds, all)
	o := newTest(b, 2, "10.32.0.0/12", seeds, all)
	state := o.Encode()
	b.SetBytes(int64(len(state)))
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Merge(state); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	seeds := make([]frame.PeerName, 100)
	for i := range seeds {
		seeds[i] = frame.PeerName(i + 1)
	}
	a := newTest(b, 1, "10.32.0.0/12", seeds, nil)
	b.ReportAllocs()
	for b.Loop() {
		_ = a.Encode()
	}
}
