package ethswitch

import "github.com/weave-switch/weave-switch/frame"

// Claim records that m now lives on this peer, at once, whoever owned it
// before: the router calls it when a container is attached here with a
// MAC that may have lived on another peer a moment ago (container
// mobility). Without it, the first frames of the moved container would
// look like echoes of the old owner's frames and be dropped for up to
// Config.EchoWindow. It reports whether m moved from another peer.
// A multicast m is ignored. It takes the write lock.
func (s *Switch) Claim(m frame.MAC) (moved bool) {
	if m.IsMulticast() {
		return false
	}
	now := s.tick()
	key := macKey(m)
	s.fdb.Lock()
	defer s.fdb.Unlock()
	if e := s.fdb.find(key); e != nil {
		moved = e.owner != s.self
		s.fdb.setOwner(e, s.self, now)
		if moved {
			s.ctr.c[cMoves].Add(1)
		}
		return moved
	}
	if s.fdb.insert(key, s.self, now) {
		s.ctr.c[cEvictions].Add(1)
	}
	s.ctr.c[cLearned].Add(1)
	s.ctr.entries.Store(int64(s.fdb.len()))
	return false
}

// Forget removes m from the table if this peer owns it, so that frames
// for a container detached here are flooded (and reach it wherever it
// reappears) rather than sent to the bridge it left. It reports whether
// it removed m. It takes the write lock.
func (s *Switch) Forget(m frame.MAC) bool {
	key := macKey(m)
	s.fdb.Lock()
	defer s.fdb.Unlock()
	p := s.fdb.idx.find(key)
	if p < 0 || s.fdb.slab[p].owner != s.self {
		return false
	}
	s.fdb.remove(p)
	s.ctr.entries.Store(int64(s.fdb.len()))
	s.ctr.c[cForgotten].Add(1)
	return true
}
