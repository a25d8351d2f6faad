package kube

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kube/kubetest"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// agedNode is a Node created at epoch plus age seconds.
func agedNode(name string, age int) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name,
		CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(age) * time.Second))}}
}

// cluster is a client of a new API server holding nodes.
func cluster(t *testing.T, nodes ...*corev1.Node) *Client {
	t.Helper()
	srv := kubetest.New(t)
	for _, n := range nodes {
		srv.Create(n)
	}
	return newClient(t, srv)
}

func TestSeedsOldestNode(t *testing.T) {
	// b-node is the oldest; a-node and c-node tie after it, a-node first
	// by name.
	client := cluster(t, agedNode("c-node", 20), agedNode("b-node", 10), agedNode("a-node", 20))
	for _, self := range []string{"a-node", "b-node", "c-node"} {
		s, err := Seeds(context.Background(), client, self)
		if err != nil {
			t.Fatal(err)
		}
		if s.Node != self || s.Self != PeerNameOf(self) || s.Oldest != "b-node" || s.Nodes != 3 ||
			len(s.Seeds) != 1 || s.Seeds[0] != PeerNameOf("b-node") {
			t.Errorf("Seeds(%s) = %+v", self, s)
		}
		seeds, yield, await := s.Alloc(s.Self)
		if self == "b-node" {
			if len(seeds) != 1 || seeds[0] != s.Self || !yield || !await {
				t.Errorf("the oldest node's router: Alloc = %v %v %v, want itself, yield, await", seeds, yield, await)
			}
		} else if seeds != nil || yield || await {
			t.Errorf("%s: Alloc = %v %v %v, want no seed", self, seeds, yield, await)
		}
	}
	// Equal creation times: the name decides.
	s, err := Seeds(context.Background(), cluster(t, agedNode("y", 0), agedNode("x", 0)), "y")
	if err != nil || s.Oldest != "x" {
		t.Errorf("tie: %+v, %v; want x", s, err)
	}
	// Alone in the cluster, the router seeds and allocates at once.
	s, err = Seeds(context.Background(), cluster(t, agedNode("solo", 0)), "solo")
	if err != nil {
		t.Fatal(err)
	}
	if seeds, yield, await := s.Alloc(s.Self); len(seeds) != 1 || !yield || await {
		t.Errorf("single node: Alloc = %v %v %v, want itself, yield, no await", seeds, yield, await)
	}
}

func TestPeerNameOfStable(t *testing.T) {
	a, b := PeerNameOf("node-1"), PeerNameOf("node-2")
	if a == b || a == frame.UnknownPeer {
		t.Fatalf("PeerNameOf: %v %v", a, b)
	}
	if PeerNameOf("node-1") != a {
		t.Fatal("PeerNameOf is not stable")
	}
	// Locally administered unicast, and a fixed value: the name must not
	// change between versions, or routers would disagree on the seed.
	if first := byte(a >> 40); first&0x03 != 0x02 {
		t.Errorf("PeerNameOf(node-1) = %v: not a locally administered unicast MAC", a)
	}
	if a.String() != "3e:f7:c0:e4:a9:76" {
		t.Errorf("PeerNameOf(node-1) = %v, want 3e:f7:c0:e4:a9:76", a)
	}
}

func TestSeedsNodeMissing(t *testing.T) {
	client := cluster(t, agedNode("a", 0), agedNode("b", 1))
	_, err := Seeds(context.Background(), client, "c")
	if err == nil || !strings.Contains(err.Error(), `node "c" is not in the cluster's node list (a, b)`) ||
		!strings.Contains(err.Error(), "NODE_NAME") {
		t.Fatalf("err = %v, want node c not in the list, and how to set it", err)
	}
	if _, err := Seeds(context.Background(), client, ""); err == nil {
		t.Fatal("no node name accepted")
	}
}

// While the API server fails, Seeds tries again; it gives up when its
// context ends, with the API's error.
func TestSeedsRetriesUntilDeadline(t *testing.T) {
	defer func(d time.Duration) { listRetry = d }(listRetry)
	listRetry = time.Millisecond
	srv := kubetest.New(t)
	srv.Create(agedNode("a", 0))
	srv.Fail(http.StatusServiceUnavailable, http.StatusInternalServerError)
	s, err := Seeds(context.Background(), newClient(t, srv), "a")
	if err != nil || s.Oldest != "a" || srv.Requests("list") != 3 {
		t.Fatalf("after two failures: %+v, %v (%d lists)", s, err, srv.Requests("list"))
	}

	// An API server that is not there: its dial error, and the context's.
	down, err := NewClient(ClientConfig{Server: "https://127.0.0.1:1", Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = Seeds(ctx, down, "a")
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("API down: %v, want its error and the context's", err)
	}
}
