package mesh

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
)

func newChannelLog() *ratelimit.Limiter {
	return &ratelimit.Limiter{Interval: 10 * time.Second, Burst: 2}
}

// Channel is a further state-based CRDT the mesh carries beside the
// topology (the IP allocator is one). The mesh sends the channel's whole
// state to every neighbour when the channel signals a change (within
// 100 ms, coalesced) and when a connection comes up; a neighbour whose
// merge changed its state signals in turn, so a change floods the mesh
// and stops where states agree. Merging must be idempotent and
// commutative.
//
// Anti-entropy, every channelRefresh slow ticks (less often on a quiet
// connection: pace.go), repairs what a lost or refused message left
// different. It sends each neighbour the sums of the channels' states
// (the first 8 bytes of their SHA-256), not the states: a neighbour whose
// state has another sum asks for ours (msgChannelWant) and merges it, and
// what it has that we lack comes back the same way when its own refresh
// reaches us. An idle mesh whose states agree so costs 9 bytes a channel
// per neighbour and refresh, not the whole state (which grows with the
// mesh: the allocator's names every peer). Equal states must encode to
// equal bytes for their sums to agree; a channel whose encoding is not
// canonical only costs an ask and a state per refresh. A neighbour that
// does not announce CapChannelSums is sent the states as before.
//
// Message (type msgChannel): one byte of channel id, then the state. A
// state larger than MaxChannelState is not sent (and logged): channels
// keep their state bounded.
type Channel interface {
	// GossipState returns the state to send; nil means nothing yet.
	GossipState() []byte
	// GossipMerge folds a neighbour's state in. It runs on the mesh's
	// actor, so it must not block for long.
	GossipMerge(from frame.PeerName, state []byte) error
	// GossipUpdated is signalled when the local state changed.
	GossipUpdated() <-chan struct{}
}

// MaxChannelState bounds one channel message.
const MaxChannelState = handshake.MaxMessageSize - 1

// channelRefresh: every this many slow ticks (2 s) the sums of the
// channels' states (their states, to a neighbour that does not compare
// sums) go to every busy neighbour even without a change (pace.go).
const channelRefresh = 5

// channelSumSize is one entry of a msgChannelSums: id and sum.
const channelSumSize = 1 + 8

// chanSum is a channel's state sum; have is false when it has no state.
type chanSum struct {
	sum  uint64
	have bool
}

// sumState is the sum of a channel state.
func sumState(st []byte) uint64 {
	h := sha256.Sum256(st)
	return binary.BigEndian.Uint64(h[:8])
}

// channelSum returns the sum of channel id's state, computed once per
// slow tick and after the channel changed or merged.
func (m *Mesh) channelSum(id uint8, ch Channel) chanSum {
	if s, ok := m.chanSums[id]; ok {
		return s
	}
	var s chanSum
	if st := ch.GossipState(); st != nil {
		s = chanSum{sum: sumState(st), have: true}
	}
	m.chanSums[id] = s
	return s
}

// refreshChannels is the channels' anti-entropy on c: the sums of their
// states, or the states to a neighbour that does not compare sums.
func (m *Mesh) refreshChannels(c *connection) {
	if c.hello.Caps[CapChannelSums] == "" {
		m.sendChannels(c, false)
		return
	}
	var sums []channelSumItem
	for _, id := range slices.Sorted(maps.Keys(m.cfg.Channels)) {
		if s := m.channelSum(id, m.cfg.Channels[id]); s.have {
			sums = append(sums, channelSumItem{id, s.sum})
		}
	}
	if sums != nil {
		m.send(c, msgChannelSums, appendChannelSums(nil, sums))
	}
}

// channelSumItem is one entry of a msgChannelSums.
type channelSumItem struct {
	id  uint8
	sum uint64
}

// appendChannelSums appends the msgChannelSums of sums to b.
func appendChannelSums(b []byte, sums []channelSumItem) []byte {
	for _, it := range sums {
		b = binary.BigEndian.AppendUint64(append(b, it.id), it.sum)
	}
	return b
}

// decodeChannelSums decodes a msgChannelSums: whole entries of a channel
// id and its 8-byte sum.
func decodeChannelSums(msg []byte) ([]channelSumItem, error) {
	if len(msg)%channelSumSize != 0 {
		return nil, fmt.Errorf("malformed channel sums: %d bytes, not a multiple of %d", len(msg), channelSumSize)
	}
	items := make([]channelSumItem, 0, len(msg)/channelSumSize)
	for ; len(msg) > 0; msg = msg[channelSumSize:] {
		items = append(items, channelSumItem{id: msg[0], sum: binary.BigEndian.Uint64(msg[1:channelSumSize])})
	}
	return items, nil
}

// handleChannelSums asks c for the states of the channels whose sums
// differ from ours; channels we do not carry are ignored.
func (m *Mesh) handleChannelSums(c *connection, sums []channelSumItem) {
	var want []byte
	for _, it := range sums {
		ch := m.cfg.Channels[it.id]
		if ch == nil {
			continue
		}
		if s := m.channelSum(it.id, ch); s.have && s.sum == it.sum {
			continue
		}
		want = append(want, it.id)
	}
	if want != nil {
		m.send(c, msgChannelWant, want)
	}
}

// handleChannelWant sends c the states it asks for, each at most once a
// slow tick: asks beyond that (a neighbour that asks in a loop) are
// ignored.
func (m *Mesh) handleChannelWant(c *connection, ids []byte) {
	now := m.cfg.Now()
	for _, id := range ids {
		ch := m.cfg.Channels[id]
		if ch == nil || now.Sub(c.wantServed[id]) < GossipInterval {
			continue
		}
		if c.wantServed == nil {
			c.wantServed = map[uint8]time.Time{}
		}
		c.wantServed[id] = now
		if msg := m.channelMsg(id, ch); msg != nil {
			m.send(c, msgChannel, msg)
		}
	}
}

// channelMsg builds a channel message, or nil if there is nothing to send.
func (m *Mesh) channelMsg(id uint8, ch Channel) []byte {
	st := ch.GossipState()
	if st == nil {
		return nil
	}
	if len(st) > MaxChannelState {
		m.log.Error("channel state too large to gossip", "channel", id, "bytes", len(st), "max", MaxChannelState)
		return nil
	}
	return append([]byte{id}, st...)
}

// sendChannels sends the state of every channel (or only those that
// signalled a change since the last such call: m.dirty) to every
// connection (or only to c).
func (m *Mesh) sendChannels(c *connection, onlyUpdated bool) {
	for id, ch := range m.cfg.Channels {
		if onlyUpdated {
			if !m.dirty[id] {
				continue
			}
			delete(m.dirty, id)
		}
		msg := m.channelMsg(id, ch)
		if msg == nil {
			continue
		}
		if c != nil {
			m.send(c, msgChannel, msg)
			continue
		}
		for _, conn := range m.conns {
			m.send(conn, msgChannel, msg)
		}
	}
}

// handleChannel merges a channel message from a neighbour.
func (m *Mesh) handleChannel(from frame.PeerName, msg []byte) {
	if len(msg) < 1 {
		m.log.Warn("empty channel message", "peer", from.String())
		return
	}
	ch := m.cfg.Channels[msg[0]]
	if ch == nil {
		m.log.Debug("message for an unknown channel", "peer", from.String(), "channel", msg[0])
		return
	}
	delete(m.chanSums, msg[0])
	if err := ch.GossipMerge(from, msg[1:]); err != nil {
		if ok, suppressed := m.channelLog.Allow(); ok {
			m.log.Warn("channel state refused", "peer", from.String(), "channel", msg[0], "err", err, "suppressed", suppressed)
		}
	}
}
