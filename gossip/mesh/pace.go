package mesh

import (
	"encoding/binary"
	"strconv"
	"sync/atomic"
	"time"
)

// Pacing of the control plane. Each connection carries, every slow tick
// (GossipInterval, 2 s), a summary of our topology (anti-entropy) and a
// ping (its round-trip time), and every channelRefresh ticks the sums of
// the channels' states (channel.go), while it is busy: young, its data link not
// answering, its peer's last summary differing from ours, or our topology
// changed lately. A quiet connection (none of these) gets less (its
// quietPace): deltas and channel changes still go out at once
// (gossipSoon), so what a quiet tick saves is the repair of what was
// lost and a fresh round-trip time, and a quiet peer still hears from us
// well within the silence it allows. The status snapshot is refreshed on
// every slow tick while a connection is busy, every quietTicks ticks
// otherwise (and whenever the routes change).
//
// A peer that announces CapQuiet allows a silence of that many seconds
// (quietTimeout, 75 s): it gets a summary every 30 s and a ping and the
// channels every 60 s, the longPace. One that does not closes a
// connection silent for controlTimeout (10 s): it gets a summary every
// 6 s, a ping and the channels every 30 s, the shortPace. An idle full
// mesh of 50 routers sends each router 4 control messages a minute per
// neighbour instead of 14, and each of them wakes the router.
//
// Deltas and channel changes: the actor arms a 100 ms timer when a
// neighbour has topology entries pending or a channel signalled a change
// (routineChannel), so an idle mesh does not wake for them at all.

// quietTicks: the status snapshot is refreshed every this many slow
// ticks while every connection is quiet.
const quietTicks = 3

// quietPace is what a quiet connection is sent: a summary every summary
// slow ticks, a ping and the channels' sums every ping ticks (a multiple
// of summary).
type quietPace struct{ summary, ping int }

var (
	shortPace = quietPace{summary: 3, ping: 15}
	longPace  = quietPace{summary: 15, ping: 30}
)

// paceFor returns the quiet pace of a connection whose peer announced
// caps and the silence after which it is closed: the longPace and
// quietTimeout for a peer that allows at least quietTimeout of silence;
// the shortPace and controlTimeout for one that does not announce
// CapQuiet; the shortPace and quietTimeout for one that announces a
// shorter silence or one we cannot read (it paces itself by what we
// announce).
func paceFor(caps map[string]string) (quietPace, time.Duration) {
	v, ok := caps[CapQuiet]
	if !ok {
		return shortPace, controlTimeout
	}
	secs, err := strconv.ParseUint(v, 10, 16)
	if err != nil || time.Duration(secs)*time.Second < quietTimeout {
		return shortPace, quietTimeout
	}
	return longPace, quietTimeout
}

// busyFor: a connection is busy for this long after it came up and after
// our topology last changed.
const busyFor = 3 * GossipInterval

// gossipDelay coalesces deltas and channel changes.
const gossipDelay = 100 * time.Millisecond

// gossipRate bounds the bytes a second of the deltas and digests a
// router sends: after a round of deltas the next waits until those bytes
// are paid for at this rate (at least gossipDelay), and a digest is left
// out while more than a slow tick's worth is owed (the next differing
// summary asks again). Everyday meshes never reach it (a hundred
// neighbours and 1.5 KB of changed entries is a 40 ms round); a hub with
// a thousand neighbours, whose own entry names them all (15 KB) and goes
// to each of them on every change, sends its changes a few seconds
// apart while peers join, instead of 150 MB a second that its neighbours
// could not take in.
const gossipRate = 4 << 20

// maxGossipDebt bounds what is owed: the whole state a new neighbour is
// sent counts too, and is sent at once, so a hub that many peers join at
// once would otherwise owe ever more and hold its deltas back ever
// longer. Deltas wait at most this long.
const maxGossipDebt = 5 * time.Second

// spend records n bytes of deltas or digests sent at now.
func (m *Mesh) spend(now time.Time, n int) {
	if m.gossipFree.Before(now) {
		m.gossipFree = now
	}
	m.gossipFree = m.gossipFree.Add(time.Duration(n) * time.Second / gossipRate)
	if limit := now.Add(maxGossipDebt); m.gossipFree.After(limit) {
		m.gossipFree = limit
	}
}

// gossipWait is how long deltas due at now wait: gossipDelay, or until
// what was sent is paid for.
func (m *Mesh) gossipWait(now time.Time) time.Duration {
	return max(gossipDelay, m.gossipFree.Sub(now))
}

// owes reports whether more than a slow tick's worth of bytes is owed
// at now.
func (m *Mesh) owes(now time.Time) bool { return m.gossipFree.Sub(now) > GossipInterval }

// busy reports whether c gets the full pace at now (see above).
func (m *Mesh) busy(c *connection, now time.Time) bool {
	return !c.established || c.summaryDiffered ||
		now.Sub(c.since) < busyFor || now.Sub(m.topoChanged) < busyFor
}

// slowGossip runs on each slow tick: summaries, pings and channel states
// to the connections due (see above). It reports whether a connection
// is busy.
func (m *Mesh) slowGossip() (busy bool) {
	now := m.cfg.Now()
	clear(m.chanSums) // a channel's state may change with time alone
	if sum := m.topo.Summary(); sum != m.lastSummary {
		m.lastSummary, m.topoChanged = sum, now
	}
	var s, p [8]byte
	binary.BigEndian.PutUint64(s[:], m.lastSummary)
	binary.BigEndian.PutUint64(p[:], uint64(now.UnixNano()))
	for _, c := range m.conns {
		c.ticks++
		if m.busy(c, now) {
			busy = true
			m.send(c, msgSummary, append([]byte(nil), s[:]...))
			m.send(c, msgPing, append([]byte(nil), p[:]...))
			if c.ticks%channelRefresh == 0 {
				m.refreshChannels(c)
			}
			continue
		}
		if c.ticks%c.pace.summary != 0 {
			continue
		}
		m.send(c, msgSummary, append([]byte(nil), s[:]...))
		if c.ticks%c.pace.ping == 0 {
			m.send(c, msgPing, append([]byte(nil), p[:]...))
			m.refreshChannels(c)
		}
	}
	return busy
}

// gossipSoon arms the gossip timer unless it is armed: for gossipDelay,
// or until the last deltas are paid for (gossipRate).
func (m *Mesh) gossipSoon() {
	if !m.gossipArmed {
		m.gossipArmed = true
		m.gossipTimer.Reset(m.gossipWait(m.cfg.Now()))
	}
}

// gossipPending arms the gossip timer if a neighbour has entries pending
// or a channel changed. The actor calls it after everything it does.
func (m *Mesh) gossipPending() {
	if len(m.dirty) > 0 || m.topo.HasPending() {
		m.gossipSoon()
	}
}

// gossip sends the pending deltas and the changed channels' states.
func (m *Mesh) gossip() {
	m.gossipArmed = false
	m.gossipDeltas()
	m.sendChannels(nil, true)
}

// routineChannel turns channel id's change signals into gossip.
func (m *Mesh) routineChannel(id uint8, ch Channel) {
	defer m.wg.Done()
	for {
		select {
		case <-m.closing:
			return
		case <-ch.GossipUpdated():
			if !m.post(func() {
				m.dirty[id] = true
				delete(m.chanSums, id)
			}) {
				return
			}
		}
	}
}

// msgNames names the control message types for the traffic counters;
// index 0 counts the types this version does not know.
var msgNames = [...]string{"other", "entries", "summary", "digest", "ping", "pong", "channel", "routed", "channel-sums", "channel-want"}

// traffic counts the control messages and their payload bytes sent and
// received, by type (msgNames).
type traffic struct {
	sentMsgs, sentBytes, recvMsgs, recvBytes [len(msgNames)]atomic.Uint64
}

func msgIndex(typ uint8) int {
	if int(typ) < len(msgNames) {
		return int(typ)
	}
	return 0
}

func (t *traffic) sent(typ uint8, n int) {
	i := msgIndex(typ)
	t.sentMsgs[i].Add(1)
	t.sentBytes[i].Add(uint64(n))
}

func (t *traffic) received(typ uint8, n int) {
	i := msgIndex(typ)
	t.recvMsgs[i].Add(1)
	t.recvBytes[i].Add(uint64(n))
}
