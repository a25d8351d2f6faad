package ipam

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

const self = frame.PeerName(0x020000000001)

type topo map[frame.PeerName]string

func (t topo) Alive(p frame.PeerName) bool          { return p == self }
func (t topo) Nicknames() map[frame.PeerName]string { return map[frame.PeerName]string(t) }

func start(t *testing.T) *Service {
	t.Helper()
	leakcheck.Check(t)
	s := New(Config{Self: self, Nickname: "h1", Range: alloc.DefaultUniverse, Seeds: []frame.PeerName{self}, DataDir: t.TempDir()})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Error("second Close:", err)
		}
	})
	return s
}

func TestAssign(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	got, undo, err := s.Assign(ctx, "/run/netns/c1", nil, nil)
	if err != nil || len(got) != 1 || !s.def.Contains(got[0].Addr()) || got[0].Bits() != s.def.Bits() {
		t.Fatalf("Assign(default) = %v, %v; want one address in %v", got, err, s.def)
	}
	again, _, err := s.Assign(ctx, "/run/netns/c1", nil, nil)
	if err != nil || len(again) != 1 || again[0] != got[0] {
		t.Errorf("Assign again = %v, %v; want %v", again, err, got)
	}
	// An undo after a second Assign keeps what the key had before.
	undo()
	if addrs := s.svc.Lookup("/run/netns/c1"); len(addrs) != 0 {
		t.Errorf("undo of the first Assign left %v", addrs)
	}
	p := netip.MustParsePrefix("10.40.1.5/24")
	if _, _, err := s.Assign(ctx, "k1", []netip.Prefix{p}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Assign(ctx, "k2", []netip.Prefix{p}, nil)
	if !errors.As(err, new(*api.BadRequestError)) || !errors.Is(err, alloc.ErrInUse) {
		t.Errorf("claiming a taken address = %v, want a bad request wrapping ErrInUse", err)
	}
	if _, _, err := s.Assign(ctx, "k3", nil, []string{"bogus"}); !errors.As(err, new(*api.BadRequestError)) {
		t.Errorf("a bad subnet spec = %v, want a bad request", err)
	}
	if freed := s.Release("k1"); len(freed) != 1 || freed[0] != p.Addr() {
		t.Errorf("Release = %v", freed)
	}
	if st := s.Status(); st.Range != alloc.DefaultUniverse.String() || len(st.Peers) != 1 || st.Peers[0].Nickname != "h1" {
		t.Errorf("Status = %+v", st)
	}
}

func TestRmPeerNames(t *testing.T) {
	s := start(t)
	s.SetTopology(topo{0x020000000002: "h2", 0x020000000003: "dup", 0x020000000004: "dup"})
	ctx := context.Background()
	for _, tt := range []struct{ name, want string }{
		{"nobody", "neither a peer name nor the nickname"},
		{"dup", "ambiguous (02:00:00:00:00:03, 02:00:00:00:00:04)"},
	} {
		_, err := s.RmPeer(ctx, api.RmPeerRequest{Names: []string{tt.name}})
		if !errors.As(err, new(*api.BadRequestError)) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("RmPeer(%s) = %v, want a bad request saying %q", tt.name, err, tt.want)
		}
	}
	if _, err := s.RmPeer(ctx, api.RmPeerRequest{}); !errors.As(err, new(*api.BadRequestError)) {
		t.Errorf("RmPeer() = %v, want a bad request", err)
	}
	if p, err := ResolvePeer("h2", s.nicknames()); err != nil || p != 0x020000000002 {
		t.Errorf("ResolvePeer(h2) = %v, %v", p, err)
	}
}
