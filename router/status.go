package router

import (
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// PeerStatus is a snapshot of one peer's data-path state.
type PeerStatus struct {
	Name frame.PeerName
	// Transport names the link's transport (sleeve, wireguard, quic).
	Transport string
	// Address is the data endpoint the control plane registered;
	// Endpoint the one in use (where the peer proved it sends from, see
	// learn.go).
	Address, Endpoint                              string
	LastSeen                                       time.Time // zero if never heard from
	TxFrames, TxBytes, RxFrames, RxBytes, TxErrors uint64
}

// Counters are the router's own frame counters.
type Counters struct {
	FromDevice, ToDevice, NoPeer, NoRoute, SendErrors, DeviceErrors uint64
	// UnknownSender counts received frames and heartbeats whose sender
	// (Meta.Via) is not a neighbour.
	UnknownSender uint64
	// WrongSource counts received frames and heartbeats that name a
	// neighbour but came from another underlay address than the one
	// registered for it, or on another transport than its link's.
	WrongSource uint64
	// BadGSO counts received frames whose GSO descriptor does not fit
	// the frame (frame.CheckGSO).
	BadGSO uint64
	// OffTree counts received flooded frames that came from another
	// neighbour than the one this peer's routes expect them from (its
	// parent in the source's broadcast tree): second copies of a flood
	// while peers disagree on the topology.
	OffTree uint64
	// RxQueueDrops counts received frames dropped because their delivery
	// worker's queue was full (ingress drops under overload).
	RxQueueDrops uint64
	// EndpointMoves counts neighbours' endpoints moved on proof (a NAT
	// that mapped a neighbour to another address or port).
	EndpointMoves uint64
}

// Peers returns a snapshot of the peers, in table order.
func (r *Router) Peers() []PeerStatus {
	t := r.peers.table.Load()
	out := make([]PeerStatus, 0, len(t.list))
	for _, p := range t.list {
		ps := PeerStatus{
			Name:      p.peerName(),
			Transport: p.kind,
			Address:   p.registered.String(),
			Endpoint:  p.endpoint().addr.String(),
			TxFrames:  p.txFrames.Load(),
			TxBytes:   p.txBytes.Load(),
			RxFrames:  p.rxFrames.Load(),
			RxBytes:   p.rxBytes.Load(),
			TxErrors:  p.txErrors.Load(),
		}
		if ns := p.lastSeen.Load(); ns != 0 {
			ps.LastSeen = r.wall(ns)
		}
		out = append(out, ps)
	}
	return out
}

// Counters returns the router's frame counters.
func (r *Router) Counters() Counters {
	return Counters{
		FromDevice:    r.counters.fromDevice.Load(),
		ToDevice:      r.counters.toDevice.Load(),
		NoPeer:        r.counters.noPeer.Load(),
		NoRoute:       r.counters.noRoute.Load(),
		UnknownSender: r.counters.unknownSender.Load(),
		WrongSource:   r.counters.wrongSource.Load(),
		BadGSO:        r.counters.badGSO.Load(),
		OffTree:       r.counters.offTree.Load(),
		SendErrors:    r.counters.badSend.Load(),
		DeviceErrors:  r.counters.devErrors.Load(),
		RxQueueDrops:  r.counters.rxQueueDrops.Load(),
		EndpointMoves: r.counters.endpointMoves.Load(),
	}
}
