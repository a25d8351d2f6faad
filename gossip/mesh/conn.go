package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/gossip/handshake"
	"github.com/weave-switch/weave-switch/gossip/topology"
	"github.com/weave-switch/weave-switch/link"
	"github.com/weave-switch/weave-switch/transport"
)

// Control message types (handshake.Conn.WriteMsg).
const (
	msgEntries = 1 // back-to-back topology entries: the delta
	msgSummary = 2 // 8-byte summary hash
	msgDigest  = 3 // full digest: the receiver pushes what we lack
	msgPing    = 4 // 8-byte clock
	msgPong    = 5 // the ping's clock, echoed
	msgChannel = 6 // channel id byte, then a Channel's state
	msgRouted  = 7 // a message for another router (routed.go)
	// (channel id, 8-byte sum of its state) for each channel with a
	// state: the receiver asks for those whose sum differs from its own
	msgChannelSums = 8
	msgChannelWant = 9 // channel ids whose state the sender asks for
)

// A connection's send queue holds at most sendQueueLen messages and
// sendQueueBytes bytes of payload (a message is up to
// handshake.MaxMessageSize); a peer that lets it fill is disconnected.
const (
	sendQueueLen   = 256
	sendQueueBytes = 8 << 20
	// controlTimeout: a connection whose peer does not announce CapQuiet
	// is closed after this long without a message.
	controlTimeout = 10 * time.Second
	// quietTimeout: one whose peer announces CapQuiet, after this long
	// (pace.go). A dead host is found sooner, by TCP keepalives
	// (controlKeepAlive) and by the data path's heartbeats.
	quietTimeout = 75 * time.Second
)

// controlKeepAlive: the kernel probes a control connection idle for 15
// s every 5 s and resets it after 3 probes unanswered, so that a host that
// dies or drops off the network loses its connections within about 30 s
// of falling silent, without waking the router.
var controlKeepAlive = net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3}

type outMsg struct {
	typ     uint8
	payload []byte
}

// sendQueue is a connection's messages waiting for its writer. Its buffer
// grows with what is queued and is given back once drained, so that an
// idle connection holds none: a hub with a thousand peers would keep
// sendQueueLen messages' worth (8 KB) for each. The zero value is empty.
type sendQueue struct {
	mu    sync.Mutex
	msgs  []outMsg
	bytes int64         // payload bytes queued or being written
	ready chan struct{} // cap 1: signalled when a message is queued
}

// signal returns the channel that a push signals.
func (q *sendQueue) signal() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readyLocked()
}

func (q *sendQueue) readyLocked() chan struct{} {
	if q.ready == nil {
		q.ready = make(chan struct{}, 1)
	}
	return q.ready
}

// push queues m, unless that would pass sendQueueLen messages or
// sendQueueBytes bytes: then it reports false.
func (q *sendQueue) push(m outMsg) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := int64(len(m.payload))
	if len(q.msgs) >= sendQueueLen || q.bytes+n > sendQueueBytes {
		return false
	}
	q.msgs = append(q.msgs, m)
	q.bytes += n
	select {
	case q.readyLocked() <- struct{}{}:
	default:
	}
	return true
}

// take appends the queued messages to buf and empties the queue; their
// bytes count until written (written).
func (q *sendQueue) take(buf []outMsg) []outMsg {
	q.mu.Lock()
	defer q.mu.Unlock()
	buf = append(buf, q.msgs...)
	clear(q.msgs)
	q.msgs = q.msgs[:0]
	if cap(q.msgs) > 16 {
		q.msgs = nil
	}
	return buf
}

// written drops the bytes of a message taken and written.
func (q *sendQueue) written(n int) {
	q.mu.Lock()
	q.bytes -= int64(n)
	q.mu.Unlock()
}

// size returns the messages and bytes queued (bytes: being written too).
func (q *sendQueue) size() (int, int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.msgs), q.bytes
}

// connection is an established, authenticated control connection. Fields
// other than the channels are owned by the actor.
type connection struct {
	hc       *handshake.Conn
	hello    handshake.Hello
	addr     string // remote TCP address
	outbound bool
	target   string // dial target, for outbound connections
	since    time.Time
	dataEP   transport.Endpoint

	established   bool   // data path answered a heartbeat recently
	viaPunch      bool   // made by punching (punch.go), to a local address or through NAT
	punched       bool   // made by a simultaneous open through NAT
	wasUp         bool   // its data path answered at some point
	dataEncrypted bool   // the data link is encrypted
	link          Link   // the data transport of this link
	asked         string // the transport asked for
	linkNote      string // why link is not what was asked for
	failure       string
	rtt           time.Duration
	controlRTT    time.Duration
	endpoint      netip.AddrPort // where the data path sends (link.Health)

	summaryDiffered bool
	lastDigestSent  time.Time
	ticks           int           // slow ticks seen (pace.go)
	pace            quietPace     // what it is sent while quiet (pace.go)
	silence         time.Duration // how long it may be silent before it is closed
	// when a channel's state last went to this neighbour because it
	// asked (msgChannelWant), by channel id
	wantServed map[uint8]time.Time

	sendq sendQueue
	quit  chan struct{}
	done  chan struct{} // closed when both goroutines have exited
}

func (c *connection) close() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	c.hc.Close()
}

// send queues a message; a full queue means the peer cannot keep up, and
// it is disconnected rather than allowed to block the actor.
func (m *Mesh) send(c *connection, typ uint8, payload []byte) {
	if c.sendq.push(outMsg{typ, payload}) {
		return
	}
	select {
	case <-c.quit:
		return // already closing: said once
	default:
	}
	msgs, bytes := c.sendq.size()
	m.log.Warn("peer too slow: disconnecting", "peer", c.hello.Name.String(), "queued", msgs, "queued_bytes", bytes)
	c.close()
}

// register adopts a connection that finished its handshake.
func (m *Mesh) register(hc *handshake.Conn, outbound bool, target string) {
	hello := hc.Remote()
	addr := parseHostPort(hc.NetConn())
	if hello.Name == m.cfg.Self {
		hc.Close()
		if t := m.targets[target]; t != nil {
			t.fail(m, "connected to ourself", true)
		}
		return
	}
	if old := m.conns[hello.Name]; old != nil {
		// A second connection under a known name from the same host is
		// two routers dialing each other, or the peer restarted. From
		// another address it does not replace the first: inbound, it is
		// someone claiming the name (anyone can without a password) and
		// is refused, so that it cannot knock the real link down;
		// outbound, the target reached a peer already connected, which
		// the connection maker dials again once that link is gone.
		if oldAddr, err := netip.ParseAddrPort(old.addr); err == nil && oldAddr.Addr() != addr.Addr() {
			hc.Close()
			if t := m.targets[target]; t != nil {
				t.connectedAs(hello.Name)
			}
			if !outbound {
				m.admission.count(RefusedNameClaim)
				err := fmt.Errorf("claims the name of peer %s, connected from %s", hello.Name, oldAddr.Addr())
				m.failedLog.Log(slog.LevelWarn, "refused inbound connection", "addr", addr.String(), "reason", RefusedNameClaim, "err", err)
				m.noteRefusal(addr.String(), err)
			}
			return
		}
		// Keep the connection initiated by the peer with the smaller
		// name, so that two routers dialing each other agree on one. A
		// second connection in the same direction as the first replaces
		// it: the dialer lost the first (a NAT on the way that forgot
		// its mapping cuts it on the dialer's side only) and dialled
		// again.
		initiator := m.cfg.Self
		if !outbound {
			initiator = hello.Name
		}
		if outbound != old.outbound && initiator > min(m.cfg.Self, hello.Name) {
			hc.Close()
			if t := m.targets[target]; t != nil {
				t.connectedAs(hello.Name)
			}
			return
		}
		// Keep the old link's keys: the new SetKeys below gives the old
		// receive key a grace period for datagrams in flight.
		m.dropConnKeys(old, "replaced by a simultaneous connection", false)
	}
	// The link's transport: what the dialer asked for if both offer it,
	// else the sleeve, with the reason.
	asked := hello.Caps[CapLinkTransport]
	if outbound {
		asked = m.cfg.DefaultTransport
		if t := m.targets[target]; t != nil && t.transport != "" {
			asked = t.transport
		}
	}
	var keys link.Keys
	keys.Send, keys.Recv, keys.OK = hc.DataKeys()
	link, note := m.chooseLink(asked, hello.Caps)
	dataEP, err := link.Add(hello.Name, addr.Addr(), hello.Caps, keys, outbound)
	if err != nil && link != m.cfg.Links[0] {
		note = fmt.Sprintf("%s failed (%v), fell back", link.Name(), err)
		link = m.cfg.Links[0]
		dataEP, err = link.Add(hello.Name, addr.Addr(), hello.Caps, keys, outbound)
	}
	if err != nil {
		m.log.Error("refusing connection: cannot set up its data link", "peer", hello.Name.String(), "err", err)
		hc.Close()
		if t := m.targets[target]; t != nil {
			t.fail(m, "cannot set up the data link: "+err.Error(), false)
		}
		return
	}
	if note != "" {
		m.log.Warn("link transport fell back", "peer", hello.Name.String(), "using", link.Name(), "why", note)
	}
	c := &connection{
		hc: hc, hello: hello, addr: addr.String(), outbound: outbound, target: target,
		since: m.cfg.Now(), dataEP: dataEP, failure: "waiting for the data path to answer",
		quit: make(chan struct{}), done: make(chan struct{}),
		link: link, asked: asked, linkNote: note, dataEncrypted: link.Encrypted(),
	}
	c.pace, c.silence = paceFor(hello.Caps)
	m.conns[hello.Name] = c
	if t := m.targets[target]; t != nil {
		t.connectedAs(hello.Name)
	}
	if !outbound {
		m.inboundMeetsTarget(hello, addr, link.Name())
	}
	m.topo.AddNeighbor(hello.Name)
	m.log.Info("connected", "peer", hello.Name.String(), "nickname", hello.Nickname, "addr", c.addr,
		"outbound", outbound, "encrypted", hello.Encrypted)
	readerDone := make(chan struct{})
	m.wg.Add(2)
	go m.routineRead(c, readerDone)
	go m.routineWrite(c, readerDone)
	m.sendDigest(c)
	m.sendChannels(c, false)
	m.updateSelf()
	m.cfg.Router.SendHeartbeats()
}

// inboundMeetsTarget marks the dial target that names the peer of a new
// inbound connection (its address and control port) as connected to it,
// so that the connection maker does not dial it again: a later dial would
// win register's tie-break (from the side with the smaller name) and
// replace a working link, and the link would be down until the new one is
// established (seen as a lost ping when two routers start a second apart,
// each with the other as --peer). A target
// that asks for another transport than the link got is left to dial: its
// link is to use what the user asked for.
func (m *Mesh) inboundMeetsTarget(hello handshake.Hello, addr netip.AddrPort, linkName string) {
	port, err := strconv.ParseUint(hello.Caps[CapControlPort], 10, 16)
	if err != nil {
		return
	}
	t := m.targets[netip.AddrPortFrom(addr.Addr(), uint16(port)).String()]
	if t == nil || t.dialing || t.transport != "" && t.transport != linkName {
		return
	}
	t.connectedAs(hello.Name)
}

// dropConn forgets a connection (the actor's side of a disconnect).
func (m *Mesh) dropConn(c *connection, reason string) { m.dropConnKeys(c, reason, true) }

func (m *Mesh) dropConnKeys(c *connection, reason string, removeKeys bool) {
	c.close()
	name := c.hello.Name
	if m.conns[name] != c {
		return
	}
	delete(m.conns, name)
	m.topo.RemoveNeighbor(name)
	if removeKeys {
		c.link.Remove(name)
	}
	m.log.Info("disconnected", "peer", name.String(), "addr", c.addr, "reason", reason)
	if t := m.targets[c.target]; t != nil {
		t.fail(m, reason, false)
	}
	if c.viaPunch {
		m.punchedLost(name, c.wasUp)
	}
	m.updateSelf()
}

func (m *Mesh) routineRead(c *connection, readerDone chan struct{}) {
	defer m.wg.Done()
	defer close(readerDone)
	// At most two messages at a time wait for the actor, so that a peer
	// holds at most three (those and the one being read) in memory. With
	// two, the reader goes back to reading as soon as it has posted a
	// message, instead of waking again when the actor has handled it.
	handled := make(chan struct{}, 2)
	handled <- struct{}{}
	handled <- struct{}{}
	var buf []byte
	for {
		select {
		case <-handled:
		case <-m.closing:
			return
		}
		_ = c.hc.NetConn().SetReadDeadline(time.Now().Add(c.silence))
		typ, payload, err := c.hc.ReadMsg(buf)
		if err != nil {
			reason := err.Error()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				reason = "control connection silent for " + c.silence.String()
			}
			m.post(func() { m.dropConn(c, reason) })
			return
		}
		m.traffic.received(typ, len(payload))
		msg := append([]byte(nil), payload...)
		if !m.post(func() { m.handle(c, typ, msg); handled <- struct{}{} }) {
			return
		}
	}
}

func (m *Mesh) routineWrite(c *connection, readerDone chan struct{}) {
	defer m.wg.Done()
	defer func() {
		<-readerDone
		close(c.done)
	}()
	ready := c.sendq.signal()
	var batch []outMsg
	for {
		select {
		case <-ready:
		case <-c.quit:
			c.hc.Close()
			return
		}
		batch = c.sendq.take(batch[:0])
		for i, msg := range batch {
			err := c.hc.WriteMsg(msg.typ, msg.payload)
			c.sendq.written(len(msg.payload))
			if err != nil {
				c.close()
				return
			}
			m.traffic.sent(msg.typ, len(msg.payload))
			batch[i] = outMsg{}
		}
		if cap(batch) > 16 {
			batch = nil
		}
	}
}

// handle runs on the actor for each message received.
func (m *Mesh) handle(c *connection, typ uint8, msg []byte) {
	if m.conns[c.hello.Name] != c {
		return
	}
	from := c.hello.Name
	switch typ {
	case msgEntries, msgSummary, msgDigest, msgChannel, msgChannelSums, msgChannelWant:
		m.lastGossip = m.cfg.Now()
	}
	switch typ {
	case msgEntries:
		changed, restarted, err := m.topo.MergeEncoded(from, msg)
		if err != nil {
			m.log.Warn("bad topology update", "peer", from.String(), "err", err)
		}
		for _, p := range restarted {
			n := m.cfg.Router.ForgetMACs(p)
			m.log.Info("peer restarted: stale state purged", "peer", p.String(), "macs", n)
		}
		if len(changed) > 0 {
			m.scheduleRoutes()
			m.discover()
		}
	case msgSummary:
		if len(msg) != 8 {
			m.dropConn(c, "malformed summary")
			return
		}
		differ := binary.BigEndian.Uint64(msg) != m.topo.Summary()
		if differ && c.summaryDiffered && !m.owes(m.cfg.Now()) {
			m.sendDigest(c)
		}
		c.summaryDiffered = differ
	case msgDigest:
		items, _, err := topology.DecodeDigest(msg)
		if err != nil {
			m.dropConn(c, "malformed digest: "+err.Error())
			return
		}
		m.topo.KnownBy(from, items)
		m.pushPending(c)
		if _, weNeed := m.topo.Missing(items); len(weNeed) > 0 && m.cfg.Now().Sub(c.lastDigestSent) > time.Second && !m.owes(m.cfg.Now()) {
			m.sendDigest(c)
		}
	case msgPing:
		m.send(c, msgPong, msg)
	case msgChannel:
		m.handleChannel(from, msg)
	case msgChannelSums:
		sums, err := decodeChannelSums(msg)
		if err != nil {
			m.dropConn(c, err.Error())
			return
		}
		m.handleChannelSums(c, sums)
	case msgChannelWant:
		m.handleChannelWant(c, msg)
	case msgRouted:
		m.handleRouted(from, msg)
	case msgPong:
		if len(msg) == 8 {
			c.controlRTT = time.Duration(m.cfg.Now().UnixNano() - int64(binary.BigEndian.Uint64(msg)))
		}
	default:
		m.log.Debug("unknown control message", "peer", from.String(), "type", typ)
	}
}

func (m *Mesh) sendDigest(c *connection) {
	d := topology.AppendDigest(nil, m.topo.Digest())
	m.send(c, msgDigest, d)
	c.lastDigestSent = m.cfg.Now()
	m.spend(c.lastDigestSent, len(d))
}

// pushPending sends c the entries it lacks.
func (m *Mesh) pushPending(c *connection) {
	pending := m.topo.PendingFor(c.hello.Name)
	if len(pending) == 0 {
		return
	}
	n := 0
	for _, b := range topology.EncodeEntries(pending, handshake.MaxMessageSize) {
		m.send(c, msgEntries, b)
		n += len(b)
	}
	m.topo.Sent(c.hello.Name, pending)
	m.spend(m.cfg.Now(), n)
}

func (m *Mesh) gossipDeltas() {
	for _, c := range m.conns {
		m.pushPending(c)
	}
}
