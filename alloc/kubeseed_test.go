package alloc

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kube"
	"github.com/weave-switch/weave-switch/kube/kubetest"
)

// kubeCluster is the routers of a Kubernetes cluster, each seeded the way
// `up --kube` seeds it from the cluster's node list.
type kubeCluster struct {
	t       *testing.T
	api     *kubetest.Server
	client  *kube.Client
	routers map[string]*Allocator // by node
	alive   map[frame.PeerName]bool
	created time.Time
}

func newKubeCluster(t *testing.T) *kubeCluster {
	api := kubetest.New(t)
	client, err := kube.NewClient(kube.ClientConfig{Server: api.URL(), RootCAs: api.RootCAs(), TokenFile: api.TokenFile()})
	if err != nil {
		t.Fatal(err)
	}
	return &kubeCluster{t: t, api: api, client: client, routers: map[string]*Allocator{},
		alive: map[frame.PeerName]bool{}, created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// addNode creates a node, each one later than the last.
func (c *kubeCluster) addNode(name string) {
	c.t.Helper()
	c.created = c.created.Add(time.Minute)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(c.created)}}
	c.api.Create(n)
}

// start starts the router of node with an empty data directory.
func (c *kubeCluster) start(node string) *Allocator {
	c.t.Helper()
	s, err := kube.Seeds(context.Background(), c.client, node)
	if err != nil {
		c.t.Fatal(err)
	}
	seeds, yield, await := s.Alloc(s.Self)
	a, err := New(Config{Self: s.Self, Universe: netip.MustParsePrefix("10.32.0.0/16"), Seeds: seeds, Yield: yield, Await: await,
		Alive: func(p frame.PeerName) bool { return c.alive[p] }})
	if err != nil {
		c.t.Fatal(err)
	}
	c.routers[node] = a
	c.alive[s.Self] = true
	return a
}

// deleteNode kills node's router and deletes the node.
func (c *kubeCluster) deleteNode(node string) {
	c.t.Helper()
	delete(c.routers, node)
	c.alive[kube.PeerNameOf(node)] = false
	c.api.Delete(node)
}

func (c *kubeCluster) all() []*Allocator {
	var out []*Allocator
	for _, a := range c.routers {
		out = append(out, a)
	}
	return out
}

// allocate gets an address for key from a, letting the routers gossip
// while it waits for the ring or for space.
func (c *kubeCluster) allocate(a *Allocator, key string) netip.Addr {
	c.t.Helper()
	for range 20 {
		ad, err := a.Allocate(key, DefaultSubnet(a.Universe()))
		if err == nil {
			return ad
		}
		if !errors.Is(err, ErrPending) && !errors.Is(err, ErrNoRing) && !errors.Is(err, ErrFresh) {
			c.t.Fatalf("allocate %s: %v", key, err)
		}
		exchange(c.t, c.all()...)
	}
	c.t.Fatalf("allocate %s: no address after 20 rounds of gossip", key)
	return netip.Addr{}
}

// checkOneRing checks that every router holds the ring seeded by seed's
// router, and that no address is handed out twice.
func (c *kubeCluster) checkOneRing(seed string) {
	c.t.Helper()
	exchange(c.t, c.all()...)
	owner := map[netip.Addr]string{}
	var enc string
	for node, a := range c.routers {
		if a.st == nil || len(a.st.Ring.Seeds) != 1 || a.st.Ring.Seeds[0] != kube.PeerNameOf(seed) {
			c.t.Fatalf("%s: not on the ring seeded by %s's router", node, seed)
		}
		if e := string(a.Encode()); enc == "" {
			enc = e
		} else if e != enc {
			c.t.Errorf("%s: its state differs from the others' after gossip", node)
		}
		for _, addrs := range a.Keys() {
			for _, ad := range addrs {
				if o, dup := owner[ad]; dup {
					c.t.Errorf("%s handed out by %s and %s", ad, o, node)
				}
				owner[ad] = node
			}
		}
	}
}

// A fresh cluster: pods are scheduled on every node before the routers
// meet. No router hands out an address from a ring of its own; once they
// meet they share the oldest node's router's ring and never hand out an
// address twice. A node that joins after the seeding node was deleted
// joins that ring, and so does the new oldest node's router when its
// data directory was wiped.
func TestKubeSeedingOneRing(t *testing.T) {
	c := newKubeCluster(t)
	for _, n := range []string{"node-b", "node-a", "node-c"} { // node-b is the oldest
		c.addNode(n)
	}
	for _, n := range []string{"node-a", "node-b", "node-c"} {
		c.start(n)
	}
	// Before the routers meet: the seed awaits a peer, the others a ring.
	for n, a := range c.routers {
		_, err := a.Allocate("early", DefaultSubnet(a.Universe()))
		want := ErrNoRing
		if n == "node-b" {
			want = ErrFresh
		}
		if !errors.Is(err, want) {
			t.Fatalf("%s before meeting its peers: %v, want %v", n, err, want)
		}
	}
	for i := range 5 {
		for _, n := range []string{"node-a", "node-b", "node-c"} {
			c.allocate(c.routers[n], fmt.Sprintf("%s-pod-%d", n, i))
		}
	}
	c.checkOneRing("node-b")

	// node-b's router dies and its node is deleted (its space is left to
	// rmpeer); node-d joins later. The oldest node is node-a now, whose
	// router does not seed anything on a new node: node-d waits for the
	// ring and joins node-b's.
	c.deleteNode("node-b")
	c.addNode("node-d")
	s, err := kube.Seeds(context.Background(), c.client, "node-d")
	if err != nil || s.Oldest != "node-a" {
		t.Fatalf("after node-b's deletion: %+v, %v; want node-a the oldest", s, err)
	}
	d := c.start("node-d")
	if d.st != nil {
		t.Fatal("node-d's router built a ring of its own")
	}
	// Were node-d seeded with the new oldest node's name, it would hold a
	// ring of its own that can never merge with the cluster's.
	other, err := New(Config{Self: s.Self, Universe: d.Universe(), Seeds: s.Seeds})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.Merge(c.routers["node-a"].Encode()); !errors.Is(err, ErrDifferentRing) {
		t.Fatalf("a router seeded with the new oldest node: merge = %v, want ErrDifferentRing", err)
	}
	for i := range 3 {
		c.allocate(d, fmt.Sprintf("node-d-pod-%d", i))
	}
	c.checkOneRing("node-b")

	// node-a's router, now the oldest node's, restarts with its data
	// directory wiped: it seeds a ring but hands out nothing from it
	// until it hears from a peer, then gives it up for the cluster's.
	delete(c.routers, "node-a")
	a := c.start("node-a")
	if _, err := a.Allocate("early", DefaultSubnet(a.Universe())); !errors.Is(err, ErrFresh) {
		t.Fatalf("wiped oldest router before meeting its peers: %v, want ErrFresh", err)
	}
	// They meet: the cluster refuses the lone ring and changes nothing,
	// and node-a's router gives its ring up for theirs.
	if err := c.routers["node-c"].Merge(a.Encode()); !errors.Is(err, ErrDifferentRing) {
		t.Fatalf("the cluster merged the wiped router's lone ring: %v", err)
	}
	if err := a.Merge(c.routers["node-c"].Encode()); err != nil {
		t.Fatalf("the wiped router kept its lone ring: %v", err)
	}
	for i := range 3 {
		c.allocate(a, fmt.Sprintf("node-a-again-%d", i))
	}
	c.checkOneRing("node-b")
}
