package daemon

import (
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/kube"
)

// startKube follows the cluster's nodes as peers, with --kube.
func (d *Daemon) startKube() (func(), error) {
	c := d.cfg
	if !c.Kube {
		return nil, nil
	}
	s, err := kube.New(kube.Config{NodeName: c.KubeNodeName, Port: d.listen.Port(), Transport: c.Transport,
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
