package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/vxlan"
	"github.com/weave-switch/weave-switch/router"
)

// backends builds each kernel backend this binary has, by name.
var backends = map[string]kernel.Builder{
	kernel.ModeVXLAN: func(env kernel.Env) (kernel.Datapath, error) { return vxlan.New(env) },
}

// fastSource is what the fast path reads: the router's links, heartbeat
// answers and MAC table, and each link's encryption from the mesh.
type fastSource struct{ d *Daemon }

var _ kernel.Source = fastSource{}

func (s fastSource) Links() []kernel.LinkInput {
	encrypted := map[string]bool{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the mesh's latest snapshot is enough
	for _, c := range s.d.mesh.Status(ctx).Connections {
		if c.Peer != "" && c.State == "established" {
			encrypted[c.Peer] = c.Encrypted
		}
	}
	var out []kernel.LinkInput
	for _, h := range s.d.rt.FastHealth() {
		in := kernel.LinkInput{Peer: h.Peer, LastAck: h.LastAck, RTT: h.RTT, Encrypted: len(s.d.cfg.Password) > 0}
		if enc, ok := encrypted[h.Peer.String()]; ok {
			in.Encrypted = enc
		}
		if h.Addr != nil {
			in.Addr = h.Addr.DstAddrPort().Addr().Unmap()
		}
		out = append(out, in)
	}
	return out
}

func (s fastSource) MACs(gen uint64) (uint64, map[frame.MAC]frame.PeerName, bool) {
	if s.d.rt.MACGeneration() == gen {
		return gen, nil, false
	}
	g, entries := s.d.rt.MACTable()
	macs := make(map[frame.MAC]frame.PeerName, len(entries))
	for _, e := range entries {
		macs[e.MAC] = e.Peer
	}
	return g, macs, true
}

func (s fastSource) Touch(mac frame.MAC, owner frame.PeerName) { s.d.rt.TouchMAC(mac, owner) }

func (s fastSource) EnableHeartbeats(mac frame.MAC) { s.d.rt.EnableFastHeartbeats(mac, s.d.mtu) }

func (s fastSource) SendHeartbeats(peers []frame.PeerName) {
	to := make([]router.FastTarget, len(peers))
	for i, p := range peers {
		to[i] = router.FastTarget{Peer: p, MAC: kernel.HeartbeatMAC(p)}
	}
	s.d.rt.SendFastHeartbeats(to)
}

// topology is the mesh, as the allocator needs it.
type topology struct{ m *mesh.Mesh }

func (t topology) Alive(p frame.PeerName) bool { return t.m.Alive(p) }

func (t topology) Nicknames() map[frame.PeerName]string {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	out := map[frame.PeerName]string{}
	for _, p := range t.m.Status(ctx).Peers {
		if n, err := frame.ParsePeerName(p.Name); err == nil {
			out[n] = p.Nickname
		}
	}
	return out
}

// peers serves the API's connect and forget.
type peers struct{ d *Daemon }

func (p peers) Connect(ctx context.Context, req api.ConnectRequest) error {
	if req.Address == "" {
		return &api.BadRequestError{Err: errors.New("connect: no address")}
	}
	if _, err := p.d.sleeve.ParseEndpoint(req.Address); err != nil {
		return &api.BadRequestError{Err: fmt.Errorf("connect: %w", err)}
	}
	return p.d.mesh.Connect(ctx, req.Address, req.Transport)
}

func (p peers) Forget(ctx context.Context, req api.ConnectRequest) (api.ForgetResponse, error) {
	ok, err := p.d.mesh.Forget(ctx, req.Address)
	return api.ForgetResponse{Forgotten: ok}, err
}
