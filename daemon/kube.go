package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/kube"
)

// kubeSeedTimeout bounds the wait for the cluster's node list at start.
const kubeSeedTimeout = 30 * time.Second

// newKubeClient is the client of --kube: the pod's service account.
var newKubeClient = kube.NewInClusterClient

// ringSeeds are the allocator's Seeds, Yield and Await.
type ringSeeds struct {
	seeds        []frame.PeerName
	yield, await bool
}

// kubeSeeds, with --kube and no --ipalloc-seed, builds the cluster's
// client and works out from the node list how this router's allocation
// ring is seeded (kube.Seeding.Alloc): the oldest node's router seeds
// it, every other router waits for it from its peers. If the API server
// does not answer in time, a router that has an allocator database
// starts with no seed (its stored ring, or one from its peers); one that
// has none fails, to be restarted.
func (d *Daemon) kubeSeeds() (func(), error) {
	c := d.cfg
	if !c.Kube {
		return nil, nil
	}
	client, err := newKubeClient()
	if err != nil {
		return nil, err
	}
	d.kube = client
	if len(c.IPAllocSeeds) > 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), kubeSeedTimeout)
	defer cancel()
	s, err := kube.Seeds(ctx, client, c.KubeNodeName)
	if err != nil {
		if ctx.Err() == nil {
			return nil, err
		}
		if _, serr := os.Stat(filepath.Join(c.DataDir, "ipam.db")); serr != nil {
			return nil, fmt.Errorf("%w: cannot work out how the allocation ring is seeded", err)
		}
		d.log.Warn("kube: the node list is out of reach: starting with the stored allocation ring, or waiting for one from a peer",
			"err", err)
		d.kubeRing = &ringSeeds{}
		return nil, nil
	}
	r := &ringSeeds{}
	r.seeds, r.yield, r.await = s.Alloc(d.self)
	d.kubeRing = r
	if r.seeds != nil {
		d.log.Info("kube: this router seeds the allocation ring: its node is the cluster's oldest",
			"node", s.Node, "nodes", s.Nodes, "await_peer", r.await)
	} else {
		d.log.Info("kube: waiting for the allocation ring from the peers, seeded by the oldest node's router",
			"node", s.Node, "oldest", s.Oldest, "seed", s.Seeds[0].String())
	}
	return nil, nil
}

// startKube follows the cluster's nodes as peers, with --kube.
func (d *Daemon) startKube() (func(), error) {
	c := d.cfg
	if !c.Kube {
		return nil, nil
	}
	s, err := kube.New(kube.Config{Client: d.kube, NodeName: c.KubeNodeName, Port: d.listen.Port(), Transport: c.Transport,
		Mesh: d.mesh, IPAM: rmpeer{d}, Logger: d.log.With("component", "kube")})
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return func() { s.Close() }, nil
}

// The mesh is what the Kubernetes mode connects, forgets and asks about.
var _ kube.Mesh = (*mesh.Mesh)(nil)

// rmpeer (the API's: IPAM and DNS) removes the deleted nodes' routers.
var _ kube.IPAM = rmpeer{}
