package ethswitch

import "github.com/weave-switch/weave-switch/frame"

// FromLocal decides the fate of the frames b.Bufs[:b.N] captured from the
// local bridge and writes decision i to out[i]; len(out) must be at least
// b.N. It learns each valid source MAC as owned by Self and sets
// b.Meta[i].Src = Self, .Dst = destination peer or UnknownPeer and .Via =
// UnknownPeer, leaving .GSO as the device set it.
//
// Decisions: known unicast to a remote peer -> Peer; broadcast, multicast
// and unknown unicast -> Flood; destination known to be local -> Drop (the
// bridge delivered it); source MAC recently seen behind a remote peer ->
// Drop as an echo, entry unchanged; frames shorter than an Ethernet header,
// with a multicast source MAC, or to a link-local 01:80:c2:00:00:0x
// destination -> Drop.
//
// FromLocal reads only the 14-byte headers, retains nothing, does not
// allocate, and is safe to call concurrently with every other method.
func (s *Switch) FromLocal(b *frame.Batch, out []Decision) {
	n := b.N
	if n == 0 {
		return
	}
	out = out[:n]
	meta := b.Meta[:n]
	now := s.tick()
	var c batchCounts
	write := false
	s.fdb.RLock()
	for i := range n {
		h := header(b, i)
		d, ok := s.decideLocal(h, now, write, &c)
		if !ok {
			// Upgrade for the rest of the batch. Nothing was changed for
			// frame i, so deciding it again under the write lock is exact.
			s.fdb.RUnlock()
			s.fdb.Lock()
			write = true
			d, _ = s.decideLocal(h, now, true, &c)
		}
		out[i] = d
		meta[i].Src, meta[i].Dst, meta[i].Via = s.self, d.Peer, frame.UnknownPeer // keep GSO
	}
	s.unlock(write)
	s.ctr.add(&c)
}

// FromPeer decides the fate of the frames b.Bufs[:b.N] received from the
// overlay and writes decision i to out[i]; len(out) must be at least b.N.
// b.Meta[i].Src must be the peer that captured the frame and Dst the
// destination peer or UnknownPeer for a flooded frame. b.Meta is not
// modified.
//
// Decisions, in order: malformed -> Drop; Meta.Src is UnknownPeer or Self
// -> Drop; Meta.Dst is another peer -> Peer with Peer = Meta.Dst (relay,
// nothing learned); multicast source MAC -> Drop. Otherwise the source MAC
// is learned as owned by Meta.Src, moving it at once if another peer owned
// it. Then: link-local destination -> Drop; Meta.Dst is Self -> Local (the
// sender addressed this peer; the bridge drops what it cannot deliver);
// destination MAC owned by Self -> Local; unicast destination MAC owned by
// another peer -> Flood (passed on along the flood, not delivered here);
// anything else (unknown, broadcast, multicast) -> LocalAndFlood.
//
// FromPeer reads only the 14-byte headers, retains nothing, does not
// allocate, and is safe to call concurrently with every other method.
func (s *Switch) FromPeer(b *frame.Batch, out []Decision) {
	n := b.N
	if n == 0 {
		return
	}
	out = out[:n]
	meta := b.Meta[:n]
	now := s.tick()
	var c batchCounts
	write := false
	s.fdb.RLock()
	for i := range n {
		h := header(b, i)
		d, ok := s.decidePeer(h, &meta[i], now, write, &c)
		if !ok {
			s.fdb.RUnlock()
			s.fdb.Lock()
			write = true
			d, _ = s.decidePeer(h, &meta[i], now, true, &c)
		}
		out[i] = d
	}
	s.unlock(write)
	s.ctr.add(&c)
}

func (s *Switch) unlock(write bool) {
	if write {
		s.ctr.entries.Store(int64(s.fdb.len()))
		s.fdb.Unlock()
	} else {
		s.fdb.RUnlock()
	}
}

// header returns the Ethernet header of frame i, or nil if the frame is
// shorter than one.
func header(b *frame.Batch, i int) frame.Ethernet {
	buf := b.Bufs[i]
	if b.Sizes[i] < frame.EthernetHeaderSize || len(buf)-b.Offset < frame.EthernetHeaderSize {
		return nil
	}
	return frame.Ethernet(buf[b.Offset : b.Offset+frame.EthernetHeaderSize])
}

// isLinkLocal reports whether m is an IEEE 802.1D reserved group address,
// 01:80:c2:00:00:00 to 01:80:c2:00:00:0f (STP, pause, LACP, 802.1X, LLDP),
// which bridges must not forward.
func isLinkLocal(m frame.MAC) bool {
	return m[0] == 0x01 && m[1] == 0x80 && m[2] == 0xc2 && m[3] == 0 && m[4] == 0 && m[5]&0xf0 == 0
}

// decideLocal decides one locally captured frame. It returns ok == false,
// having changed nothing, if the frame needs a table write and write is
// false; the caller then retries with the write lock held.
func (s *Switch) decideLocal(h frame.Ethernet, now int64, write bool, c *batchCounts) (Decision, bool) {
	if h == nil {
		c[cDropMalformed]++
		return Decision{}, true
	}
	src := h.Src()
	if src.IsMulticast() {
		c[cDropMulticastSrc]++
		return Decision{}, true
	}
	key := macKey(src)
	switch e := s.fdb.find(key); {
	case e == nil:
		if !write {
			return Decision{}, false
		}
		if s.fdb.insert(key, s.self, now) {
			c[cEvictions]++
		}
		c[cLearned]++
	case e.owner == s.self:
		e.touch(now, s.refresh)
	case now-e.seen.Load() < s.echo:
		c[cDropEcho]++
		return Decision{}, true
	default: // a remote MAC, silent for EchoWindow, is now here
		if !write {
			return Decision{}, false
		}
		s.fdb.setOwner(e, s.self, now)
		c[cMoves]++
	}

	dst := h.Dst()
	if dst.IsMulticast() {
		if isLinkLocal(dst) {
			c[cDropLinkLocal]++
			return Decision{}, true
		}
		c[cFlooded]++
		return Decision{Action: Flood}, true
	}
	switch e := s.fdb.find(macKey(dst)); {
	case e == nil:
		c[cFlooded]++
		return Decision{Action: Flood}, true
	case e.owner == s.self:
		c[cDropLocalDst]++
		return Decision{}, true
	default:
		c[cUnicast]++
		return Decision{Action: Peer, Peer: e.owner}, true
	}
}

// decidePeer decides one frame from the overlay; see decideLocal for ok.
func (s *Switch) decidePeer(h frame.Ethernet, m *frame.Meta, now int64, write bool, c *batchCounts) (Decision, bool) {
	switch {
	case h == nil:
		c[cDropMalformed]++
		return Decision{}, true
	case m.Src == frame.UnknownPeer:
		c[cDropNoSrcPeer]++
		return Decision{}, true
	case m.Src == s.self:
		c[cDropOwnFrame]++
		return Decision{}, true
	case m.Dst != frame.UnknownPeer && m.Dst != s.self:
		c[cRelayed]++
		return Decision{Action: Peer, Peer: m.Dst}, true
	}
	src := h.Src()
	if src.IsMulticast() {
		c[cDropMulticastSrc]++
		return Decision{}, true
	}
	key := macKey(src)
	switch e := s.fdb.find(key); {
	case e == nil:
		if !write {
			return Decision{}, false
		}
		if s.fdb.insert(key, m.Src, now) {
			c[cEvictions]++
		}
		c[cLearned]++
	case e.owner == m.Src:
		e.touch(now, s.refresh)
	default: // forced: the MAC moved to m.Src
		if !write {
			return Decision{}, false
		}
		s.fdb.setOwner(e, m.Src, now)
		c[cMoves]++
	}

	dst := h.Dst()
	switch {
	case isLinkLocal(dst):
		c[cDropLinkLocal]++
		return Decision{}, true
	case m.Dst == s.self:
		c[cLocal]++
		return Decision{Action: Local}, true
	case !dst.IsMulticast():
		switch e := s.fdb.find(macKey(dst)); {
		case e == nil:
		case e.owner == s.self:
			c[cLocal]++
			return Decision{Action: Local}, true
		default:
			// The sender did not know where the MAC lives, this peer
			// does, and it is not here: the flood goes on towards the
			// owner but the local bridge does not get it. Written to
			// the bridge, it would be forwarded to that MAC again by
			// whatever the bridge knows of it: a kernel fast-path port
			// holding the MAC would deliver a second copy.
			c[cFloodOnly]++
			return Decision{Action: Flood}, true
		}
	}
	c[cLocalAndFlood]++
	return Decision{Action: LocalAndFlood}, true
}
