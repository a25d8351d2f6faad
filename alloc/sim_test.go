package alloc

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

var (
	simSeed  = flag.Uint64("sim.seed", 0, "run only this simulation seed")
	simSeeds = flag.Int("sim.seeds", 6, "number of simulation seeds")
	simFirst = flag.Uint64("sim.first", 1, "first simulation seed")
	simSteps = flag.Int("sim.steps", 1500, "steps per simulation")
	simLog   = flag.Bool("sim.log", false, "log every allocator's events")
)

// simPeer is one router of the simulation.
type simPeer struct {
	name    frame.PeerName
	a       *Allocator // nil while stopped
	store   *MemStore  // its disk
	group   int        // partition
	removed bool       // reclaimed by rmpeer while stopped; restarts with a wiped disk
}

type simMsg struct {
	from, to int
	state    []byte
}

// sim is many allocators over an in-memory message exchange with
// partitions, restarts, allocations, releases and reclaims, checked
// against a reference: the set of live allocations.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	peers []*simPeer
	seeds []frame.PeerName
	inbox []simMsg
	// ref is the reference: every address in use, by whom. A container
	// keeps its address while its router is stopped.
	ref     map[netip.Addr]string
	keys    map[string][]netip.Addr // "peer/key" → addresses
	subnets []netip.Prefix
	nkey    int
	nstep   int
	claims  map[int]map[string]netip.Addr // pending explicit claims per peer
	props   map[int]uint32                // proposer → seq
	propAge map[int]int
	stats   map[string]int
	log     *slog.Logger
}

func newSim(t *testing.T, seed uint64, n, nseeds int) *sim {
	s := &sim{
		t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		ref: map[netip.Addr]string{}, keys: map[string][]netip.Addr{},
		props: map[int]uint32{}, propAge: map[int]int{}, stats: map[string]int{}, claims: map[int]map[string]netip.Addr{},
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if *simLog {
		s.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	// A /20 universe keeps the space small enough to run out of.
	u := netip.MustParsePrefix("10.32.0.0/20")
	app1, _ := AppSubnet(u, "web")
	app2, _ := AppSubnet(u, "db")
	s.subnets = []netip.Prefix{DefaultSubnet(u), app1, app2, netip.MustParsePrefix("10.32.4.0/26")}
	for i := range n {
		s.peers = append(s.peers, &simPeer{name: frame.PeerName(0x020000000000 + uint64(i+1)), store: &MemStore{}})
	}
	for i := range nseeds {
		s.seeds = append(s.seeds, s.peers[i].name)
	}
	for i := range s.peers {
		s.start(i)
	}
	return s
}

func (s *sim) tracef(format string, args ...any) {
	if *simLog {
		fmt.Fprintf(os.Stderr, "SIM step %d: %s\n", s.nstep, fmt.Sprintf(format, args...))
	}
}

func (s *sim) start(i int) {
	p := s.peers[i]
	s.tracef("start %d (%s) removed=%v", i, p.name, p.removed)
	a, err := New(Config{
		Self: p.name, Universe: netip.MustParsePrefix("10.32.0.0/20"), Seeds: s.seeds, Store: p.store, Logger: s.log,
		Alive: func(q frame.PeerName) bool { return s.alive(i, q) },
	})
	if err != nil {
		s.t.Fatalf("start %s: %v", p.name, err)
	}
	p.a = a
}

func (s *sim) index(q frame.PeerName) int { return int(q - 0x020000000001) }

// alive: q is running and in i's partition.
func (s *sim) alive(i int, q frame.PeerName) bool {
	j := s.index(q)
	if j < 0 || j >= len(s.peers) {
		return false
	}
	return s.peers[j].a != nil && s.peers[j].group == s.peers[i].group
}

func (s *sim) connected(i, j int) bool {
	return s.peers[i].a != nil && s.peers[j].a != nil && s.peers[i].group == s.peers[j].group
}

// gossip queues i's state to a few random peers of its partition.
func (s *sim) gossip(i int) {
	b := s.peers[i].a.Encode()
	if b == nil {
		return
	}
	for range 3 {
		j := s.rng.IntN(len(s.peers))
		if j != i && s.connected(i, j) {
			s.inbox = append(s.inbox, simMsg{i, j, b})
		}
	}
}

// deliver delivers up to n queued messages in random order; a message
// between peers no longer connected is lost.
func (s *sim) deliver(n int) {
	for ; n > 0 && len(s.inbox) > 0; n-- {
		k := s.rng.IntN(len(s.inbox))
		m := s.inbox[k]
		s.inbox[k] = s.inbox[len(s.inbox)-1]
		s.inbox = s.inbox[:len(s.inbox)-1]
		if !s.connected(m.from, m.to) {
			continue
		}
		if err := s.peers[m.to].a.Merge(m.state); err != nil {
			s.t.Fatalf("merge %d→%d: %v", m.from, m.to, err)
		}
		s.peers[m.to].a.Tick()
		s.checkLost(m.to)
	}
}

func (s *sim) checkLost(i int) {
	if n := s.peers[i].a.Lost(); n > 0 {
		s.t.Fatalf("peer %d lost %d allocated addresses", i, n)
	}
}

func (s *sim) running() []int {
	var out []int
	for i, p := range s.peers {
		if p.a != nil {
			out = append(out, i)
		}
	}
	return out
}

func (s *sim) allocate(i int) {
	p := s.peers[i]
	s.nkey++
	key := fmt.Sprintf("c%d", s.nkey)
	if ks := s.keys[fmt.Sprint(i)+"/"+key]; len(ks) > 0 {
		return
	}
	sub := s.subnets[s.rng.IntN(len(s.subnets))]
	ad, err := p.a.Allocate(key, sub)
	var ex *ExhaustedError
	switch {
	case err == nil:
		s.stats["allocated"]++
	case errors.Is(err, ErrPending), errors.Is(err, ErrNoRing), errors.Is(err, ErrFresh):
		s.stats["pending"]++
		return
	case errors.As(err, &ex):
		s.stats["exhausted"]++
		return
	default:
		s.t.Fatalf("allocate: %v", err)
	}
	if !sub.Contains(ad) || ad == sub.Masked().Addr() {
		s.t.Fatalf("peer %d allocated %s outside usable %s", i, ad, sub)
	}
	who := fmt.Sprintf("%d/%s", i, key)
	if prev, dup := s.ref[ad]; dup {
		s.t.Fatalf("DUPLICATE: peer %d allocated %s to %s, in use by %s", i, ad, key, prev)
	}
	s.tracef("alloc %s %s", who, ad)
	s.ref[ad] = who
	s.keys[who] = append(s.keys[who], ad)
}

// claim: peer i claims a random address of the universe for a new key
// (sometimes one in use: it must never be granted).
func (s *sim) claim(i int) {
	s.nkey++
	key := fmt.Sprintf("x%d", s.nkey)
	ad := u32ToAddr(addrToU32(netip.MustParseAddr("10.32.0.0")) + uint32(s.rng.IntN(1<<12)))
	err := s.peers[i].a.Claim(key, ad)
	switch {
	case err == nil:
		s.record(i, key, ad)
		s.stats["claimed"]++
	case errors.Is(err, ErrPending), errors.Is(err, ErrNoRing):
		if s.claims[i] == nil {
			s.claims[i] = map[string]netip.Addr{}
		}
		s.claims[i][key] = ad
		s.stats["claim pending"]++
	case errors.Is(err, ErrInUse):
		s.stats["claim in use"]++
	default:
		s.t.Fatalf("claim: %v", err)
	}
}

// settleClaims records claims that were granted since.
func (s *sim) settleClaims() {
	for i, cs := range s.claims {
		if s.peers[i].a == nil {
			delete(s.claims, i) // pending claims live in memory only
			continue
		}
		for key, ad := range cs {
			if got := s.peers[i].a.Lookup(key); len(got) > 0 {
				if got[0] != ad {
					s.t.Fatalf("claim of %s for %s got %v", ad, key, got)
				}
				delete(cs, key)
				s.record(i, key, ad)
				s.stats["claim granted"]++
			}
		}
	}
}

func (s *sim) record(i int, key string, ad netip.Addr) {
	who := fmt.Sprintf("%d/%s", i, key)
	if prev, dup := s.ref[ad]; dup {
		s.t.Fatalf("DUPLICATE: peer %d holds %s for %s, in use by %s", i, ad, key, prev)
	}
	s.tracef("claim %s %s", who, ad)
	s.ref[ad] = who
	s.keys[who] = append(s.keys[who], ad)
}

func (s *sim) release(i int) {
	prefix := fmt.Sprint(i) + "/"
	var mine []string
	for k := range s.keys {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			mine = append(mine, k)
		}
	}
	if len(mine) == 0 {
		return
	}
	slices.Sort(mine)
	who := mine[s.rng.IntN(len(mine))]
	got := s.peers[i].a.Release(who[len(prefix):])
	want := s.keys[who]
	slices.SortFunc(got, func(a, b netip.Addr) int { return a.Compare(b) })
	slices.SortFunc(want, func(a, b netip.Addr) int { return a.Compare(b) })
	if !slices.Equal(got, want) {
		s.t.Fatalf("release %s freed %v, reference %v", who, got, want)
	}
	for _, ad := range want {
		delete(s.ref, ad)
	}
	delete(s.keys, who)
	s.stats["released"]++
}

// forgetPeer drops every allocation of peer i from the reference: its
// host is gone (rmpeer committed).
func (s *sim) forgetPeer(i int) {
	prefix := fmt.Sprint(i) + "/"
	for k, ads := range s.keys {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			for _, ad := range ads {
				delete(s.ref, ad)
			}
			delete(s.keys, k)
		}
	}
}

func (s *sim) partition() {
	groups := 1 + s.rng.IntN(3)
	for _, p := range s.peers {
		p.group = s.rng.IntN(groups)
	}
	s.stats["partitions"]++
}

func (s *sim) heal() {
	for _, p := range s.peers {
		p.group = 0
	}
}

func (s *sim) rmpeer() {
	run := s.running()
	if len(run) == 0 {
		return
	}
	r := run[s.rng.IntN(len(run))]
	var dead []frame.PeerName
	if s.rng.IntN(2) == 0 {
		// The operator names every stopped peer.
		for _, p := range s.peers {
			if p.a == nil && !p.removed && len(dead) < MaxDead {
				dead = append(dead, p.name)
			}
		}
		if len(dead) == 0 {
			return
		}
		seq, err := s.peers[r].a.Propose(dead)
		s.proposed(r, seq, err)
		return
	}
	d := s.rng.IntN(len(s.peers))
	dp := s.peers[d]
	if d == r || dp.removed {
		return
	}
	if dp.a != nil && !s.alive(r, dp.name) {
		// An operator must not rmpeer a peer that is running behind a
		// partition: that is the one case the rule cannot see.
		return
	}
	seq, err := s.peers[r].a.Propose([]frame.PeerName{dp.name})
	if dp.a != nil {
		if err == nil {
			s.t.Fatalf("rmpeer of live, reachable peer %d accepted", d)
		}
		s.stats["rmpeer refused (alive)"]++
		return
	}
	s.proposed(r, seq, err)
}

func (s *sim) proposed(r int, seq uint32, err error) {
	if err != nil {
		if !errors.Is(err, ErrRefused) {
			s.t.Fatalf("rmpeer: %v", err)
		}
		s.stats["rmpeer refused"]++
		return
	}
	s.props[r] = seq
	s.propAge[r] = 0
	s.stats["rmpeer proposed"]++
}

// checkProposals notices committed reclaims (the dead peer's containers
// are gone with it) and withdraws ones that waited too long.
func (s *sim) checkProposals() {
	for r, seq := range s.props {
		p := s.peers[r]
		if p.a == nil {
			delete(s.props, r)
			continue
		}
		committed, _, _, running := p.a.ProposalStatus(seq)
		switch {
		case committed:
			s.stats["rmpeer committed"]++
			delete(s.props, r)
		case !running:
			delete(s.props, r)
		default:
			s.propAge[r]++
			if s.propAge[r] > 60 {
				p.a.Withdraw(seq)
				s.stats["rmpeer withdrawn"]++
				delete(s.props, r)
			}
		}
	}
	// A peer is removed once any running peer sees its register removed.
	for d, dp := range s.peers {
		if dp.removed || dp.a != nil {
			continue
		}
		for _, i := range s.running() {
			if m := s.peers[i].a.st.Members[dp.name]; m != nil && m.Removed && m.Epoch == s.epochOf(d) {
				dp.removed = true
				s.tracef("removed %d", d)
				s.forgetPeer(d)
				break
			}
		}
	}
}

// underReclaim reports whether a running proposal names q: the operator
// said q is gone, so q does not come back until the reclaim is over.
func (s *sim) underReclaim(q frame.PeerName) bool {
	for _, p := range s.peers {
		if p.a == nil {
			continue
		}
		for _, m := range p.a.st.Members {
			if m.Proposal != nil && slices.Contains(m.Proposal.Dead, q) {
				return true
			}
		}
	}
	return false
}

// epochOf is the epoch peer d's stored state has for itself.
func (s *sim) epochOf(d int) uint32 {
	b, _, _ := s.peers[d].store.Load()
	if b == nil {
		return 0
	}
	st, err := DecodeState(b)
	if err != nil || st.Members[s.peers[d].name] == nil {
		return 0
	}
	return st.Members[s.peers[d].name].Epoch
}

func (s *sim) step() {
	s.nstep++
	run := s.running()
	switch x := s.rng.IntN(100); {
	case x < 40 && len(run) > 0:
		s.allocate(run[s.rng.IntN(len(run))])
	case x < 55 && len(run) > 0:
		s.release(run[s.rng.IntN(len(run))])
	case x < 58 && len(run) > 1:
		i := run[s.rng.IntN(len(run))]
		s.peers[i].a = nil // stopped: its disk stays
		s.tracef("stop %d", i)
		s.stats["stopped"]++
	case x < 66:
		i := s.rng.IntN(len(s.peers))
		if p := s.peers[i]; p.a == nil && !s.underReclaim(p.name) {
			if p.removed {
				// Its host was reclaimed: it comes back with a wiped disk.
				p.store = &MemStore{}
				p.removed = false
				s.stats["restarted wiped"]++
			} else {
				s.stats["restarted"]++
			}
			s.start(i)
		}
	case x < 68:
		s.partition()
	case x < 73:
		s.heal()
	case x < 80:
		s.rmpeer()
	case x < 84 && len(run) > 0:
		s.claim(run[s.rng.IntN(len(run))])
	}
	for _, i := range s.running() {
		s.peers[i].a.Tick()
		s.checkLost(i)
		if err := s.peers[i].a.checkInvariants(); err != nil {
			s.t.Fatalf("peer %d: %v", i, err)
		}
		if s.rng.IntN(3) == 0 {
			s.gossip(i)
		}
	}
	s.deliver(len(s.inbox)/2 + 1)
	s.settleClaims()
	s.checkProposals()
}

// converge heals everything, starts every peer and gossips until every
// state is the same.
func (s *sim) converge() {
	s.heal()
	for i, p := range s.peers {
		if p.a == nil {
			if p.removed {
				p.store = &MemStore{}
				p.removed = false
			}
			s.start(i)
		}
	}
	for round := range 400 {
		for i := range s.peers {
			s.peers[i].a.Tick()
			for j := range s.peers {
				if i != j && s.rng.IntN(4) == 0 {
					if b := s.peers[i].a.Encode(); b != nil {
						s.inbox = append(s.inbox, simMsg{i, j, b})
					}
				}
			}
		}
		s.deliver(len(s.inbox))
		s.settleClaims()
		s.checkProposals()
		if round > 10 && s.converged() {
			return
		}
	}
	s.t.Fatal("states did not converge after 400 rounds of gossip")
}

func (s *sim) converged() bool {
	var first []byte
	for i, p := range s.peers {
		b := p.a.Encode()
		if b == nil {
			return false
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			return false
		}
	}
	return true
}

// checkFinal: every live allocation lies in its peer's range in the
// converged ring, and every peer's allocations are the reference's.
func (s *sim) checkFinal() {
	r := s.peers[0].a.st.Ring
	for ad, who := range s.ref {
		var i int
		fmt.Sscanf(who, "%d/", &i)
		if owner := r.Owner(ad); owner != s.peers[i].name {
			s.t.Errorf("%s held by %s lies in %s's range", ad, who, owner)
		}
	}
	for i, p := range s.peers {
		for key, ads := range p.a.Keys() {
			who := fmt.Sprintf("%d/%s", i, key)
			for _, ad := range ads {
				if s.ref[ad] != who {
					s.t.Errorf("peer %d holds %s for %s; reference: %q", i, ad, key, s.ref[ad])
				}
			}
		}
	}
}

func TestSimulationNoDuplicates(t *testing.T) {
	seeds := []uint64{}
	steps, nseeds := *simSteps, *simSeeds
	if raceEnabled || testing.Short() {
		steps, nseeds = min(steps, 400), min(nseeds, 2)
	}
	if *simSeed != 0 {
		seeds = append(seeds, *simSeed)
	} else {
		for i := range nseeds {
			seeds = append(seeds, *simFirst+uint64(i))
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			n := 20 + int(seed%4)*10 // 20 to 50 peers
			s := newSim(t, seed, n, 3+int(seed%3))
			for range steps {
				s.step()
			}
			s.converge()
			s.checkFinal()
			t.Logf("%d peers, %d live allocations; %v", n, len(s.ref), s.stats)
		})
	}
}
