package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/kube/kubetest"
)

// fakeMesh records targets and rmpeers, and serves a liveness and
// nickname table the test sets. Every change signals changed.
type fakeMesh struct {
	mu       sync.Mutex
	targets  map[string]bool
	log      []string // "connect ADDR", "forget ADDR", "rmpeer P…"
	alive    map[frame.PeerName]bool
	nicks    map[frame.PeerName]string
	aliveAsk int // Alive calls
	failRm   int // RmPeer calls still to fail
	changed  chan struct{}
}

func newFakeMesh() *fakeMesh {
	return &fakeMesh{targets: map[string]bool{}, alive: map[frame.PeerName]bool{}, nicks: map[frame.PeerName]string{},
		changed: make(chan struct{}, 1)}
}

func (f *fakeMesh) signalLocked() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeMesh) Connect(_ context.Context, addr, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.targets[addr] = true
	f.log = append(f.log, "connect "+addr)
	f.signalLocked()
	return nil
}

func (f *fakeMesh) Forget(_ context.Context, addr string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ok := f.targets[addr]
	delete(f.targets, addr)
	f.log = append(f.log, "forget "+addr)
	f.signalLocked()
	return ok, nil
}

func (f *fakeMesh) Alive(p frame.PeerName) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aliveAsk++
	f.signalLocked()
	return f.alive[p]
}

func (f *fakeMesh) Nicknames() map[frame.PeerName]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[frame.PeerName]string{}
	for p, n := range f.nicks {
		out[p] = n
	}
	return out
}

func (f *fakeMesh) RmPeer(_ context.Context, req api.RmPeerRequest) (api.RmPeerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range req.Names {
		p, err := frame.ParsePeerName(n)
		if err != nil || f.alive[p] {
			return api.RmPeerResponse{}, fmt.Errorf("rmpeer refused: %s", n)
		}
	}
	if f.failRm > 0 {
		f.failRm--
		f.log = append(f.log, "rmpeer failed")
		f.signalLocked()
		return api.RmPeerResponse{}, errors.New("injected rmpeer failure")
	}
	f.log = append(f.log, "rmpeer "+fmt.Sprint(req.Names))
	f.signalLocked()
	return api.RmPeerResponse{Reclaimed: 1}, nil
}

// waitFor blocks until cond holds over the fake's state; the test's
// deadline bounds it.
func (f *fakeMesh) waitFor(t *testing.T, what string, cond func(f *fakeMesh) bool) {
	t.Helper()
	for {
		f.mu.Lock()
		ok := cond(f)
		f.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-f.changed:
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

func (f *fakeMesh) has(entry string) bool { return slices.Contains(f.log, entry) }

func (f *fakeMesh) count(entry string) int {
	n := 0
	for _, e := range f.log {
		if e == entry {
			n++
		}
	}
	return n
}

func node(name string, addrs ...corev1.NodeAddress) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Addresses: addrs}}
}

func internal(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip}
}

func external(ip string) corev1.NodeAddress {
	return corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: ip}
}

func start(t *testing.T, objs ...*corev1.Node) (*kubetest.Server, *fakeMesh, *Service) {
	t.Helper()
	leakcheck.Check(t, 5*time.Second)
	srv := kubetest.New(t)
	for _, n := range objs {
		srv.Create(n)
	}
	m := newFakeMesh()
	s, err := New(Config{Client: newClient(t, srv), NodeName: "node-a", Mesh: m, IPAM: m, RetryInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv, m, s
}

func TestNodesBecomePeers(t *testing.T) {
	srv, m, _ := start(t,
		node("node-a", internal("192.0.2.1")),
		node("node-b", internal("192.0.2.2")),
		node("node-c", external("198.51.100.3")),
		node("node-d"), // no address yet
	)
	m.waitFor(t, "nodes b and c connected", func(f *fakeMesh) bool {
		return f.targets["192.0.2.2:6783"] && f.targets["198.51.100.3:6783"]
	})
	// node-d gets an address: it becomes a peer.
	srv.Update(node("node-d", internal("192.0.2.4")))
	m.waitFor(t, "node d connected", func(f *fakeMesh) bool { return f.targets["192.0.2.4:6783"] })
	// node-b moves: forgotten at the old address, connected at the new.
	srv.Update(node("node-b", internal("192.0.2.22")))
	m.waitFor(t, "node b moved", func(f *fakeMesh) bool {
		return f.targets["192.0.2.22:6783"] && !f.targets["192.0.2.2:6783"]
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	for addr := range m.targets {
		if addr == "192.0.2.1:6783" {
			t.Errorf("this node connected to itself")
		}
	}
	if n := m.count("connect 192.0.2.4:6783"); n != 1 {
		t.Errorf("node d connected %d times, want 1 (log %q)", n, m.log)
	}
	if m.has("rmpeer") || slices.ContainsFunc(m.log, func(e string) bool { return len(e) > 6 && e[:6] == "rmpeer" }) {
		t.Errorf("rmpeer with no node deleted: %q", m.log)
	}
}

func TestDeletedNodeRemovedOnceDead(t *testing.T) {
	srv, m, _ := start(t, node("node-a", internal("192.0.2.1")), node("node-b", internal("192.0.2.2")))
	peerB := frame.PeerName(0x0000000000b1)
	m.mu.Lock()
	m.nicks[peerB] = "node-b"
	m.alive[peerB] = true
	m.mu.Unlock()
	m.waitFor(t, "node b connected", func(f *fakeMesh) bool { return f.targets["192.0.2.2:6783"] })

	srv.Delete("node-b")
	m.waitFor(t, "node b forgotten", func(f *fakeMesh) bool { return !f.targets["192.0.2.2:6783"] })
	// Its router still answers: asked several times, never removed.
	m.mu.Lock()
	asked := m.aliveAsk
	m.mu.Unlock()
	m.waitFor(t, "liveness asked again", func(f *fakeMesh) bool { return f.aliveAsk >= asked+3 })
	m.mu.Lock()
	for _, e := range m.log {
		if len(e) >= 6 && e[:6] == "rmpeer" {
			t.Errorf("rmpeer of a live router: %q", m.log)
		}
	}
	// It dies; the first rmpeer fails and is tried again.
	m.alive[peerB] = false
	m.failRm = 1
	m.mu.Unlock()
	want := "rmpeer [" + peerB.String() + "]"
	m.waitFor(t, "node b removed", func(f *fakeMesh) bool { return f.has(want) })
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.has("rmpeer failed") {
		t.Errorf("the injected failure was not seen: %q", m.log)
	}
	if n := m.count(want); n != 1 {
		t.Errorf("rmpeer ran %d times, want 1: %q", n, m.log)
	}
}

func TestDeletedNodeThatComesBackIsKept(t *testing.T) {
	srv, m, _ := start(t, node("node-a", internal("192.0.2.1")), node("node-b", internal("192.0.2.2")))
	peerB := frame.PeerName(0x0000000000b1)
	m.mu.Lock()
	m.nicks[peerB] = "node-b"
	m.alive[peerB] = true
	m.mu.Unlock()
	m.waitFor(t, "node b connected", func(f *fakeMesh) bool { return f.targets["192.0.2.2:6783"] })
	srv.Delete("node-b")
	m.waitFor(t, "node b forgotten", func(f *fakeMesh) bool { return !f.targets["192.0.2.2:6783"] })
	srv.Create(node("node-b", internal("192.0.2.2")))
	m.waitFor(t, "node b connected again", func(f *fakeMesh) bool { return f.targets["192.0.2.2:6783"] })
	// Its router stops now: the node is in the cluster, so it stays.
	m.mu.Lock()
	m.alive[peerB] = false
	asked := m.aliveAsk
	m.mu.Unlock()
	// A third node's deletion makes the loop run again over the gone set.
	srv.Create(node("node-c", internal("192.0.2.3")))
	m.waitFor(t, "node c connected", func(f *fakeMesh) bool { return f.targets["192.0.2.3:6783"] })
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.log {
		if len(e) >= 6 && e[:6] == "rmpeer" {
			t.Errorf("rmpeer of a node back in the cluster: %q", m.log)
		}
	}
	if m.aliveAsk != asked {
		t.Errorf("liveness of a node back in the cluster asked %d more times", m.aliveAsk-asked)
	}
}

func TestDeletedNodeWithoutRouter(t *testing.T) {
	srv, m, _ := start(t, node("node-a", internal("192.0.2.1")), node("node-b", internal("192.0.2.2")),
		node("node-c", internal("192.0.2.3")))
	// node-c's router is known under another nickname only.
	m.mu.Lock()
	m.nicks[frame.PeerName(0xc1)] = "other"
	m.mu.Unlock()
	m.waitFor(t, "nodes connected", func(f *fakeMesh) bool { return f.targets["192.0.2.2:6783"] && f.targets["192.0.2.3:6783"] })
	srv.Delete("node-c")
	m.waitFor(t, "node c forgotten", func(f *fakeMesh) bool { return !f.targets["192.0.2.3:6783"] })
	// The next event runs the loop again: node-c is no longer pending.
	srv.Delete("node-b")
	m.waitFor(t, "node b forgotten", func(f *fakeMesh) bool { return !f.targets["192.0.2.2:6783"] })
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.aliveAsk != 0 {
		t.Errorf("liveness asked %d times for peers with other nicknames", m.aliveAsk)
	}
}

func TestCloseIdempotentAndBeforeStart(t *testing.T) {
	m := newFakeMesh()
	s, err := New(Config{NodeName: "n", Mesh: m, IPAM: m})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if _, err := New(Config{NodeName: "n"}); err == nil {
		t.Fatal("New without Mesh and IPAM succeeded")
	}
	if _, err := New(Config{Mesh: m, IPAM: m}); err == nil {
		t.Fatal("New without a node name succeeded")
	}
}

func TestNodeAddress(t *testing.T) {
	tests := []struct {
		name  string
		addrs []corev1.NodeAddress
		want  string
	}{
		{"internal", []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "h"}, internal("10.0.0.1")}, "10.0.0.1"},
		{"internal before external", []corev1.NodeAddress{external("203.0.113.1"), internal("10.0.0.1")}, "10.0.0.1"},
		{"external when no internal", []corev1.NodeAddress{external("203.0.113.1")}, "203.0.113.1"},
		{"ipv4 before ipv6", []corev1.NodeAddress{internal("fd00::1"), internal("10.0.0.2")}, "10.0.0.2"},
		{"ipv6 alone", []corev1.NodeAddress{internal("fd00::1")}, "fd00::1"},
		{"garbage skipped", []corev1.NodeAddress{internal("nope"), internal("0.0.0.0"), internal("10.0.0.3")}, "10.0.0.3"},
		{"zoned skipped", []corev1.NodeAddress{internal("2001:db8::1%eth0"), internal("2001:db8::2")}, "2001:db8::2"},
		{"none", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n Node
			for _, a := range tt.addrs {
				n.Status.Addresses = append(n.Status.Addresses, NodeAddr{Type: string(a.Type), Address: a.Address})
			}
			got, ok := NodeAddress(&n)
			if tt.want == "" {
				if ok {
					t.Fatalf("got %v, want none", got)
				}
				return
			}
			if !ok || got.String() != tt.want {
				t.Fatalf("got %v %v, want %s", got, ok, tt.want)
			}
		})
	}
}
