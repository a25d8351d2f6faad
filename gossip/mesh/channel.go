package mesh

import (
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
// 100 ms, coalesced), when a connection comes up, and every
// channelRefresh slow ticks as anti-entropy (less often on a quiet
// connection: pace.go); a neighbour whose merge changed its
// state signals in turn, so a change floods the mesh and stops where
// states agree. Merging must be idempotent and commutative.
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

// channelRefresh: every this many slow ticks (2 s) each channel's state
// goes to every busy neighbour even without a change (pace.go).
const channelRefresh = 5

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
	if err := ch.GossipMerge(from, msg[1:]); err != nil {
		if ok, suppressed := m.channelLog.Allow(); ok {
			m.log.Warn("channel state refused", "peer", from.String(), "channel", msg[0], "err", err, "suppressed", suppressed)
		}
	}
}
