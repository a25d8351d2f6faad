package alloc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

// relay gossips between services the way the mesh does: on update, send
// the state to every other service.
func relay(ctx context.Context, wg *sync.WaitGroup, from frame.PeerName, s *Service, others []*Service) {
	defer wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.GossipUpdated():
		case <-time.After(100 * time.Millisecond):
		}
		b := s.GossipState()
		if b == nil {
			continue
		}
		for _, o := range others {
			_ = o.GossipMerge(from, b)
		}
	}
}

func TestServiceConcurrentAllocations(t *testing.T) {
	leakcheck.Check(t)
	all := func(frame.PeerName) bool { return true }
	var svcs []*Service
	for i := range 3 {
		cfg := Config{Self: frame.PeerName(i + 1), Universe: netip.MustParsePrefix("10.32.0.0/16"), Alive: all}
		if i == 0 {
			cfg.Seeds = []frame.PeerName{1}
		}
		s, err := NewService(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		svcs = append(svcs, s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i, s := range svcs {
		var others []*Service
		for j, o := range svcs {
			if j != i {
				others = append(others, o)
			}
		}
		wg.Add(1)
		go relay(ctx, &wg, frame.PeerName(i+1), s, others)
	}
	defer func() { cancel(); wg.Wait() }()

	type result struct {
		ad  netip.Addr
		err error
	}
	results := make(chan result, 300)
	var workers sync.WaitGroup
	for i, s := range svcs {
		for w := range 4 {
			workers.Add(1)
			go func() {
				defer workers.Done()
				for k := range 25 {
					actx, acancel := context.WithTimeout(ctx, 20*time.Second)
					sub := DefaultSubnet(s.Universe())
					if k%2 == 1 {
						sub, _ = AppSubnet(s.Universe(), "web")
					}
					ad, err := s.Allocate(actx, fmt.Sprintf("p%d-w%d-k%d", i, w, k), sub)
					acancel()
					results <- result{ad, err}
				}
			}()
		}
	}
	workers.Wait()
	close(results)
	seen := map[netip.Addr]bool{}
	for r := range results {
		if r.err != nil {
			t.Fatalf("allocate: %v", r.err)
		}
		if seen[r.ad] {
			t.Fatalf("%s allocated twice", r.ad)
		}
		seen[r.ad] = true
	}
	if len(seen) != 300 {
		t.Fatalf("%d addresses, want 300", len(seen))
	}
	st := svcs[1].Status()
	if st.State != "ready" || len(st.Peers) != 3 || len(st.Allocations) != 100 {
		t.Fatalf("status of peer 2: %+v", st)
	}
}

func TestServiceTimeouts(t *testing.T) {
	leakcheck.Check(t)
	s, err := NewService(Config{Self: 2, Universe: netip.MustParsePrefix("10.32.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Allocate(ctx, "x", DefaultSubnet(s.Universe())); !errors.Is(err, ErrNoRing) {
		t.Fatalf("allocate without a ring: %v", err)
	} else {
		t.Log(err)
	}
	if _, err := s.RmPeer(ctx, []frame.PeerName{3}); !errors.Is(err, ErrRefused) {
		t.Fatalf("rmpeer without a ring: %v", err)
	}

	// A reclaim that cannot get every ack is withdrawn when ctx ends.
	up := map[frame.PeerName]bool{1: true, 2: true}
	var mu sync.Mutex
	alive := func(p frame.PeerName) bool { mu.Lock(); defer mu.Unlock(); return up[p] }
	seeds := []frame.PeerName{1, 2, 3}
	a, err := NewService(Config{Self: 1, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: seeds, Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err = a.RmPeer(ctx2, []frame.PeerName{3})
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("rmpeer without peer 2's ack: %v", err)
	}
	t.Log(err)
	if p := a.Status().Peers[0]; len(p.Reclaims) != 0 {
		t.Fatalf("the proposal was not withdrawn: %+v", p)
	}
}
