package router

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// Data-path heartbeats: the control plane counts a link as established
// only once frames cross it, so each router probes its neighbours through
// the transport itself. A heartbeat is a small frame that never reaches a
// bridge:
//
//	dst MAC  03:77:73:68:62:00  (group, locally administered: "wshb")
//	src MAC  03:77:73:68:62:00  (a group source: any switch drops it)
//	type     0x88b5             (IEEE local experimental)
//	payload  kind(1: 1 ping, 2 pong) | flags (1: bit 0 the ping answers
//	         a ping, see pingBack; bit 1 the sender heard from the
//	         receiver since its previous ping) | 6 reserved | sender's
//	         clock (8, BE ns)
//
// An idle link needs one exchange per keepalive, not one each way: a ping
// flagged heard, answered, shows both routers that the link works (the
// receiver's last heartbeat reached the sender, the ping reached the
// receiver, the pong goes back), so the receiver counts it as its own
// answered ping and waits a whole gap from it before pinging (see
// pingDue). Whichever router's gap ends first pings; an idle full mesh
// sends half the heartbeats. A router that does not flag its pings is
// answered and pinged as before.
//
// The receive routine takes heartbeats out of each batch before the switch
// sees it, answers pings at once and records pongs (time and RTT).
var heartbeatMAC = frame.MAC{0x03, 0x77, 0x73, 0x68, 0x62, 0x00}

const (
	heartbeatType = 0x88b5
	heartbeatLen  = frame.EthernetHeaderSize + 16
	hbPing        = 1
	hbPong        = 2
	hbFlagBack    = 1 // in the flags byte
	hbFlagHeard   = 2
)

func isHeartbeat(f []byte) bool {
	return len(f) >= heartbeatLen && frame.MAC(f[0:6]) == heartbeatMAC &&
		binary.BigEndian.Uint16(f[12:14]) == heartbeatType
}

func putHeartbeat(f []byte, kind byte, clock int64) int {
	return putHeartbeatFlags(f, kind, 0, clock)
}

func putHeartbeatFlags(f []byte, kind, flags byte, clock int64) int {
	copy(f[0:6], heartbeatMAC[:])
	copy(f[6:12], heartbeatMAC[:])
	binary.BigEndian.PutUint16(f[12:14], heartbeatType)
	clear(f[14:heartbeatLen])
	f[14], f[15] = kind, flags
	binary.BigEndian.PutUint64(f[22:30], uint64(clock))
	return heartbeatLen
}

// heartbeater owns the scratch space for sending heartbeats.
type heartbeater struct {
	mu sync.Mutex
	b  *frame.Batch
}

// defaultIdleHeartbeat is Config.IdleHeartbeat's default.
const defaultIdleHeartbeat = 10 * time.Second

// SendHeartbeats pings the named peers through the transport. The
// control plane calls it periodically (about once a second) and judges a
// link by its answers (LinkHealth): a link whose oldest unanswered ping
// is the control plane's timeout old is down. So a ping is due on every
// call while that judgement may be about to change or matters most: a
// link never pinged, one whose last ping is unanswered (suspect), and
// one that carried data frames since its last ping, received or sent: a
// link that dies under traffic is found within the timeout and a
// second. An idle link whose last ping was answered is pinged only when
// that ping, or the last exchange the peer started, is 3/4 to all of
// Config.IdleHeartbeat old (see pingDue): an idle mesh costs a ping and
// its answer per link about every IdleHeartbeat, and a link that dies
// while idle is found within IdleHeartbeat and the timeout, or at once
// when traffic starts (the first frame sent makes a ping due).
//
// A ping due on a healthy link that carried frames we sent since the
// last ping rides on the data: it goes with the next frames sent to that
// peer, in the same Transport.Send (the sleeve packs it into a datagram
// it sends anyway), instead of a datagram of its own. One that has not
// gone by the next call, the data having stopped, is sent on its own.
func (r *Router) SendHeartbeats() {
	r.hb.mu.Lock()
	defer r.hb.mu.Unlock()
	if r.hb.b == nil {
		r.hb.b = frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
	}
	now := r.mono()
	for _, p := range r.peers.table.Load().list {
		name := p.peerName()
		if name == frame.UnknownPeer || !r.pingDue(p, now) {
			continue
		}
		prev := p.lastPing.Load()
		answered := p.lastPong.Load() >= prev
		if answered {
			p.firstPing.Store(now) // the first since the last answer
		}
		healthy := answered && prev != 0
		sending := p.txFrames.Load() != p.pingTx.Load()
		stale := p.ride.Swap(0) != 0 // a ping that did not ride
		flags := heardFlag(p)
		p.lastPing.Store(now)
		r.notePing(p)
		if healthy && sending && !stale {
			p.rideFlags.Store(uint32(flags))
			p.ride.Store(now)
			continue
		}
		r.sendHeartbeat(r.hb.b, p.tr, p.endpoint().ep, name, hbPing, flags, now)
	}
}

// takeRide adds to view v, bound for p, the ping waiting to ride on data
// to p, if any, made in hb (a one-frame batch with v's headroom) and
// stamped with the time it leaves.
func (r *Router) takeRide(p *peer, v, hb *frame.Batch) {
	if p.ride.Load() == 0 || v.Offset != hb.Offset || p.ride.Swap(0) == 0 {
		return
	}
	if v.N == len(v.Bufs) {
		grow(v, v.N+1)
	}
	r.heartbeatFrame(hb, p.peerName(), hbPing, byte(p.rideFlags.Load()), r.mono())
	v.Bufs[v.N], v.Sizes[v.N], v.Meta[v.N] = hb.Bufs[0], hb.Sizes[0], hb.Meta[0]
	v.N++
}

// heardFlag is hbFlagHeard if a heartbeat of p's arrived since our last
// ping to it (or, before the first, at all), else 0.
func heardFlag(p *peer) byte {
	if p.heard.Load() > p.lastPing.Load() {
		return hbFlagHeard
	}
	return 0
}

// notePing records, after lastPing, what the next pingDue compares with.
func (r *Router) notePing(p *peer) {
	p.pingTx.Store(p.txFrames.Load())
	if idle := int64(r.cfg.IdleHeartbeat); idle > 0 {
		p.idleGap.Store(idle - rand.Int64N(idle/4+1))
	}
}

// pingBack pings neighbour p, whose ping just arrived, if our link to it
// is not known to work (never pinged, or the last ping unanswered): its
// ping shows that the path works now (a new link, one whose first
// handshake just completed, one back after a break), where our last ping
// may have been lost (a transport still setting the path up drops it),
// and the answer to ours marks the link up on the next check, instead of
// a heartbeat interval or two later. A ping back is flagged and never
// pinged back itself, so two routers whose answers are lost do not ping
// each other in a loop. Runs on a receive routine, concurrently with
// SendHeartbeats.
func (r *Router) pingBack(p *peer, b *frame.Batch) {
	now := r.mono()
	last := p.lastPing.Load()
	if last != 0 && p.lastPong.Load() >= last {
		return
	}
	if last == 0 {
		p.firstPing.Store(now)
	}
	flags := hbFlagBack | heardFlag(p)
	if !p.lastPing.CompareAndSwap(last, now) {
		return // SendHeartbeats pinged meanwhile
	}
	r.notePing(p)
	r.sendHeartbeat(b, p.tr, p.endpoint().ep, p.peerName(), hbPing, flags, now)
}

// pingDue reports whether SendHeartbeats pings p at now (see there). An
// idle link's ping is due between 3/4 of IdleHeartbeat and all of it
// after the last, drawn at random per ping: the idle pings of a router's
// links, all sent in one call when the links came up, drift apart, and
// so do their answers, which would otherwise arrive in one burst as big
// as the number of peers and keep the receive batch that large.
func (r *Router) pingDue(p *peer, now int64) bool {
	idle := r.cfg.IdleHeartbeat
	ping := p.lastPing.Load()
	switch {
	case idle < 0, ping == 0, p.lastPong.Load() < ping:
		return true
	case p.lastSeen.Load() > ping, p.txFrames.Load() != p.pingTx.Load():
		return true
	}
	gap := p.idleGap.Load()
	if gap == 0 {
		gap = int64(idle)
	}
	return now-max(ping, p.shared.Load()) >= gap
}

func (r *Router) sendHeartbeat(b *frame.Batch, tr transport.Transport, ep transport.Endpoint, to frame.PeerName, kind, flags byte, clock int64) {
	r.heartbeatFrame(b, to, kind, flags, clock)
	if err := tr.Send(b, ep); err != nil {
		r.counters.badSend.Add(1)
	}
}

// heartbeatFrame makes b a one-frame batch: a heartbeat of kind to peer
// to.
func (r *Router) heartbeatFrame(b *frame.Batch, to frame.PeerName, kind, flags byte, clock int64) {
	b.Sizes[0] = putHeartbeatFlags(b.Room(0), kind, flags, clock)
	b.Meta[0] = frame.Meta{Src: r.cfg.Self, Dst: to}
	b.N = 1
}

// LinkHealth returns the heartbeat state of every named peer.
func (r *Router) LinkHealth() map[frame.PeerName]link.Health {
	out := map[frame.PeerName]link.Health{}
	for _, p := range r.peers.table.Load().list {
		name := p.peerName()
		if name == frame.UnknownPeer {
			continue
		}
		h := link.Health{Endpoint: p.endpoint().addr}
		pong := p.lastPong.Load()
		if pong != 0 {
			h.LastPong = r.wall(pong)
			h.RTT = time.Duration(p.rtt.Load())
		}
		if ping := p.lastPing.Load(); ping != 0 && pong < ping {
			h.Unanswered = r.wall(p.firstPing.Load())
		}
		out[name] = h
	}
	return out
}

// filterBatch takes out of b the frames the switch must not see:
// heartbeats (answered or recorded here), frames whose sender is not a
// neighbour (SetPeers), frames that name a neighbour but did not come from
// its endpoint on its link's transport (see peer.admits) unless they prove
// it moved (learn), and
// frames whose GSO descriptor frame.CheckGSO refuses. tr is the transport
// the batch was received on. It also counts what each neighbour sent and
// when it was last heard from, looking a sender up once per run of its
// frames (same name, same underlay address) and adding to its counters
// once per run. It keeps the order of the other frames and swaps buffers,
// never copying frames.
func (r *Router) filterBatch(b *frame.Batch, eps []transport.Endpoint, tr transport.Transport, pong *frame.Batch) {
	t := r.peers.table.Load()
	rt := r.routes.Load()
	now := r.mono()
	var (
		offTree       uint64
		sender        *peer // nil: the run's frames are dropped
		wrong         bool  // the run names a neighbour from the wrong source
		senderName    frame.PeerName
		senderFrom    netip.AddrPort
		frames, bytes uint64
		unknown       uint64
		wrongSource   uint64
		badGSO        uint64
	)
	flush := func() {
		if sender != nil && frames > 0 {
			sender.rxFrames.Add(frames)
			sender.rxBytes.Add(bytes)
			sender.lastSeen.Store(now)
		}
		frames, bytes = 0, 0
	}
	keep := 0
	for i := range b.N {
		via := b.Meta[i].Via
		var from netip.AddrPort
		if eps[i] != nil {
			from = normalise(eps[i].DstAddrPort())
		}
		if i == 0 || via != senderName || from != senderFrom {
			flush()
			senderName, senderFrom, sender, wrong = via, from, nil, false
			if slot, ok := t.byName[via]; ok {
				if p := t.list[slot]; p.admits(tr, from) {
					sender = p
				} else {
					wrong = true
				}
			}
		}
		f := b.Frame(i)
		if sender == nil && wrong {
			if p := t.list[t.byName[via]]; r.learn(p, tr, eps[i], b.Meta[i].Authenticated, f) {
				sender, wrong = p, false
			}
		}
		if sender == nil {
			if wrong {
				wrongSource++
			} else {
				unknown++
			}
			continue
		}
		if isHeartbeat(f) {
			r.handleHeartbeat(sender, f, pong)
			continue
		}
		if g := b.Meta[i].GSO; !g.IsZero() && frame.CheckGSO(f, g) != nil {
			badGSO++
			continue
		}
		if b.Meta[i].Dst == frame.UnknownPeer && !rt.onTree(b.Meta[i].Src, via) {
			offTree++ // a second copy of a flood, while views of the topology differ
			continue
		}
		frames++
		bytes += uint64(b.Sizes[i])
		if keep != i {
			b.Bufs[keep], b.Bufs[i] = b.Bufs[i], b.Bufs[keep]
			b.Sizes[keep], b.Meta[keep], eps[keep] = b.Sizes[i], b.Meta[i], eps[i]
		}
		keep++
	}
	flush()
	if unknown > 0 {
		r.counters.unknownSender.Add(unknown)
	}
	if wrongSource > 0 {
		r.counters.wrongSource.Add(wrongSource)
	}
	if badGSO > 0 {
		r.counters.badGSO.Add(badGSO)
	}
	if offTree > 0 {
		r.counters.offTree.Add(offTree)
	}
	b.N = keep
}

// handleHeartbeat answers a ping from neighbour p, on its link's transport
// to its registered endpoint (and pings back, see pingBack), or records
// p's pong.
func (r *Router) handleHeartbeat(p *peer, f []byte, pong *frame.Batch) {
	clock := int64(binary.BigEndian.Uint64(f[22:30]))
	switch f[14] {
	case hbPing:
		r.sendHeartbeat(pong, p.tr, p.endpoint().ep, p.peerName(), hbPong, 0, clock)
		now := r.mono()
		p.heard.Store(now)
		if f[15]&hbFlagHeard != 0 {
			p.shared.Store(now)
		}
		if f[15]&hbFlagBack == 0 {
			r.pingBack(p, pong)
		}
	case hbFastPong:
		r.recordFastPong(p, clock)
	case hbPong:
		now := r.mono()
		p.heard.Store(now)
		p.lastPong.Store(now)
		if rtt := now - clock; rtt >= 0 {
			p.rtt.Store(rtt)
		}
	}
}
