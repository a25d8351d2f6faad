package daemon

import (
	"context"
	"os"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/internal/meshsecret"
	"github.com/weave-switch/weave-switch/internal/version"
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/router"
)

// Status is the API's status: each service's part, and the connections
// joined with the data path's counters and fast-path state per peer.
func (d *Daemon) Status() api.Status {
	s := api.Status{
		Schema: api.SchemaVersion, Name: d.self.String(), Nickname: d.cfg.Nickname, Version: version.Version, Started: d.started, PID: os.Getpid(),
		Listen: d.listen.String(), Transport: d.cfg.Transport,
		Bridge: d.cfg.Bridge, TAP: d.tapName, MTU: d.mtu, Insecure: d.secret == meshsecret.None, Secret: d.secret,
	}
	for _, t := range d.reporters() {
		r := t.Report()
		s.Transports = append(s.Transports, api.TransportStats{Name: r.Name, Counters: r.Counters, Drops: r.Drops, PathMTU: r.PathMTU})
	}
	ms := d.mesh.Status(context.Background())
	s.Encryption, s.HandshakesRefused, s.GossipDropped = ms.Encryption, ms.HandshakesRefused, ms.GossipDropped
	s.Gossip = api.Gossip{Last: ms.LastGossip, Interval: ms.GossipEvery.Seconds()}
	if !ms.LastGossip.IsZero() {
		s.Gossip.Age = d.clock.Now().Sub(ms.LastGossip).Seconds() // on the clock the mesh dated it by
	}
	data := map[string]router.PeerStatus{}
	for _, p := range d.rt.Peers() {
		data[p.Name.String()] = p
	}
	s.Fastpath = d.fast.Status()
	s.Host = d.iso.Status(false)
	fast := map[string]api.FastLink{}
	for _, l := range s.Fastpath.Links {
		fast[l.Peer] = l
	}
	for _, c := range ms.Connections {
		ac := api.Connection{
			Peer: c.Peer, Nickname: c.Nickname, Direction: c.Direction, Address: c.Address, State: c.State,
			Reason: c.Reason, Transport: c.Transport, Asked: c.Asked, Fallback: c.Fallback,
			Encrypted: c.Encrypted, Cipher: c.Cipher, MTU: c.MTU, PathMTU: c.PathMTU, NextTry: c.NextTry, Since: c.Since, Endpoint: c.Endpoint, Path: c.Path,
		}
		if c.Peer != "" {
			ac.Datapath, ac.DatapathReason = "userspace", ""
			if l, ok := fast[c.Peer]; ok {
				ac.DatapathReason = l.Reason
				if l.State == kernel.LinkUp.String() {
					ac.Datapath = "fastpath"
				}
			}
		}
		ac.RTT = c.RTT.Seconds()
		if p, ok := data[c.Peer]; ok && c.Peer != "" {
			ac.TxFrames, ac.TxBytes, ac.RxFrames, ac.RxBytes, ac.TxErrors = p.TxFrames, p.TxBytes, p.RxFrames, p.RxBytes, p.TxErrors
		}
		s.Connections = append(s.Connections, ac)
	}
	for _, p := range ms.Peers {
		s.Peers = append(s.Peers, api.Peer{Name: p.Name, Nickname: p.Nickname, UID: p.UID, Connections: p.Connections,
			Established: p.Established, Reachable: p.Reachable, NextHop: p.NextHop, Links: p.Links, Relay: p.Relay})
	}
	sws := d.rt.SwitchStats()
	s.Switch = api.SwitchStats{
		Entries: sws.Entries, Capacity: d.rt.MACCapacity(), Learned: sws.Learned, Moves: sws.Moves,
		Evictions: sws.Evictions, Drops: map[string]uint64{
			"malformed": sws.DropMalformed, "multicast_src": sws.DropMulticastSrc, "link_local": sws.DropLinkLocal,
			"echo": sws.DropEcho, "local_dst": sws.DropLocalDst, "own_frame": sws.DropOwnFrame, "no_src_peer": sws.DropNoSrcPeer,
		},
	}
	c := d.rt.Counters()
	s.Data = api.DataStats{FromBridge: c.FromDevice, ToBridge: c.ToDevice, NoPeer: c.NoPeer, NoRoute: c.NoRoute, Unknown: c.UnknownSender,
		SendErrors: c.SendErrors, DevErrors: c.DeviceErrors, Offload: d.queues[0].Dropped(), RxQueue: c.RxQueueDrops,
		WrongSource: c.WrongSource, BadGSO: c.BadGSO}
	s.Attachments = d.att.Attachments()
	s.IPAM = d.ipam.Status()
	s.Docker = d.dockerStatus()
	if w := d.web.Load(); w != nil {
		s.HTTPAddr = w.Addr()
	}
	return s
}
