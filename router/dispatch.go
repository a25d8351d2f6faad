package router

import (
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
	ethswitch "github.com/weave-switch/weave-switch/switch"
	"github.com/weave-switch/weave-switch/transport"
)

// dispatcher groups the frames of a batch by the peer they go to and sends
// each group with one Transport.Send. Each routine owns one; it allocates
// only when the number of peers grows, or a peer's view grows: a view
// starts with room for viewStart frames and doubles, up to the batch
// size, when a batch has more for its peer. Memory follows the traffic
// each peer gets, not the number of peers times the batch size.
type dispatcher struct {
	r     *Router
	bs    int
	views []*frame.Batch // per peer slot; frames alias the source batch
	used  []int          // slots with frames, in first-use order
	hb    *frame.Batch   // a ping riding on the data (takeRide)
}

// viewStart is the room a peer's view starts with.
const viewStart = 4

func newDispatcher(r *Router, bs int) *dispatcher {
	return &dispatcher{r: r, bs: bs, hb: frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)}
}

func (d *dispatcher) view(slot int, offset int) *frame.Batch {
	for len(d.views) <= slot {
		n := min(viewStart, d.bs)
		d.views = append(d.views, &frame.Batch{
			Bufs:  make([][]byte, n),
			Sizes: make([]int, n),
			Meta:  make([]frame.Meta, n),
		})
	}
	v := d.views[slot]
	if v.N == 0 {
		v.Offset = offset
		d.used = append(d.used, slot)
	}
	return v
}

func (d *dispatcher) add(slot int, b *frame.Batch, i int) {
	v := d.view(slot, b.Offset)
	if v.N == len(v.Bufs) {
		grow(v, min(2*v.N, d.bs))
	}
	v.Bufs[v.N] = b.Bufs[i]
	v.Sizes[v.N] = b.Sizes[i]
	v.Meta[v.N] = b.Meta[i]
	v.N++
}

// grow gives view v room for n frames, keeping the first v.N.
func grow(v *frame.Batch, n int) {
	bufs, sizes, meta := make([][]byte, n), make([]int, n), make([]frame.Meta, n)
	copy(bufs, v.Bufs[:v.N])
	copy(sizes, v.Sizes[:v.N])
	copy(meta, v.Meta[:v.N])
	v.Bufs, v.Sizes, v.Meta = bufs, sizes, meta
}

// dispatch sends the frames whose decision is Peer or Flood; other
// decisions are the caller's business. With routes, a unicast goes to the
// next hop towards its destination peer and a flood to this peer's
// children in the broadcast tree of the frame's source (Meta.Src); without
// routes (static full mesh) a flood goes to every peer but the previous
// hop (Meta.Via) and only from the source itself.
func (d *dispatcher) dispatch(b *frame.Batch, dec []ethswitch.Decision) {
	t := d.r.peers.table.Load()
	var rt link.Routes
	if box := d.r.routes.Load(); box != nil {
		rt = box.r
	}
	self := d.r.cfg.Self
	for i := range dec {
		via := b.Meta[i].Via
		switch dec[i].Action {
		case ethswitch.Peer:
			hop := dec[i].Peer
			if rt != nil {
				var ok bool
				if hop, ok = rt.NextHop(hop); !ok {
					d.r.counters.noRoute.Add(1)
					continue
				}
			}
			if slot, ok := t.byName[hop]; ok {
				d.add(slot, b, i)
				continue
			}
			if rt != nil {
				d.r.counters.noRoute.Add(1)
				continue
			}
			// No routes yet and no such neighbour: flood as unknown
			// unicast (the neighbours' bridges decide).
			b.Meta[i].Dst = frame.UnknownPeer
			d.flood(t, b, i, via)
		case ethswitch.Flood:
			if rt == nil {
				if b.Meta[i].Src == self {
					d.flood(t, b, i, via)
				}
				continue
			}
			for _, n := range rt.BroadcastNext(b.Meta[i].Src) {
				if slot, ok := t.byName[n]; ok && n != via {
					d.add(slot, b, i)
				}
			}
		}
	}
	d.flush(t)
}

// flood adds frame i for every peer but via.
func (d *dispatcher) flood(t *peerTable, b *frame.Batch, i int, via frame.PeerName) {
	if len(t.list) == 0 {
		d.r.counters.noPeer.Add(1)
		return
	}
	for slot, p := range t.list {
		if via != frame.UnknownPeer && p.peerName() == via {
			continue
		}
		d.add(slot, b, i)
	}
}

// flush sends every view and resets them.
func (d *dispatcher) flush(t *peerTable) {
	for _, slot := range d.used {
		v := d.views[slot]
		p := t.list[slot]
		data := v.N
		d.r.takeRide(p, v, d.hb)
		if err := p.tr.Send(v, p.endpoint().ep); err != nil {
			p.txErrors.Add(1)
			d.r.counters.badSend.Add(1)
		} else {
			var bytes uint64
			for k := range data {
				bytes += uint64(v.Sizes[k])
			}
			p.txFrames.Add(uint64(data))
			p.txBytes.Add(bytes)
		}
		for k := range v.N {
			v.Bufs[k] = nil
		}
		v.N = 0
	}
	d.used = d.used[:0]
}
