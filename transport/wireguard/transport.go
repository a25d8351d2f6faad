package wireguard

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	"github.com/weave-switch/weave-switch/internal/reassembly"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"github.com/weave-switch/weave-switch/transport"
)

// socketBuffer is the UDP socket's buffer size, as wireguard-go sets it.
const socketBuffer = 7 << 20

// Queue lengths, in requests (one Send call or one device Write each).
const (
	txQueueLen = 64
	rxQueueLen = 64
)

// Overhead components (see Overhead).
const (
	ipv4UDPOverhead = 20 + 8
	ipv6UDPOverhead = 40 + 8
	// MessageOverhead is WireGuard's transport message framing: type,
	// receiver index and counter (16) plus the Poly1305 tag (16).
	MessageOverhead = 32
	// MaxPadding is the most WireGuard pads a packet (to a multiple of 16).
	MaxPadding = 15
)

// ErrUnknownPeer is returned by Send for an endpoint no AddPeer named.
var ErrUnknownPeer = errors.New("no wireguard peer at this endpoint")

// ErrKeyInUse is returned by AddPeer for a public key that another peer
// (or this one) already has: WireGuard knows a peer by its key, so two
// names with one key would share one tunnel, the later taking the
// earlier's endpoint and traffic.
var ErrKeyInUse = errors.New("wireguard public key already in use")

// errNotOpen is returned by Send before Open.
var errNotOpen = errors.New("not open")

// ErrFrameTooBig is returned by Send when it dropped frames longer than
// MaxFrameSize (the rest of the batch is sent).
var ErrFrameTooBig = errors.New("frame larger than wireguard.MaxFrameSize")

// Stats are the transport's counters (frames, not bytes). TxFragments
// and RxFragments count the packets that carried a piece of a frame too
// big for one packet on its path; Reassembled the frames put back
// together; FrameDrops the pieces and frames the reassembly dropped.
//
// Initiations counts the handshake initiations the device sent;
// TxAwaiting the frames dropped because the first handshake with
// their peer was left to it and had not happened yet.
type Stats struct {
	TxFrames, TxDropped, TxTooBig, TxFragments, TxAwaiting  atomic.Uint64
	RxFrames, RxDropped, RxMalformed, RxTooBig, RxFragments atomic.Uint64
	Reassembled, Initiations                                atomic.Uint64
	FrameDrops                                              reassembly.Drops
}

// StatsSnapshot is Stats read at one time, for status and metrics.
type StatsSnapshot struct {
	TxFrames, TxDropped, TxTooBig, TxFragments, TxAwaiting  uint64
	RxFrames, RxDropped, RxMalformed, RxTooBig, RxFragments uint64
	Reassembled, Initiations                                uint64
	FrameDrops                                              map[string]uint64 `json:",omitempty"`
}

// Snapshot reads the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	out := StatsSnapshot{
		TxFrames: s.TxFrames.Load(), TxDropped: s.TxDropped.Load(), TxTooBig: s.TxTooBig.Load(), TxFragments: s.TxFragments.Load(),
		TxAwaiting: s.TxAwaiting.Load(),
		RxFrames:   s.RxFrames.Load(), RxDropped: s.RxDropped.Load(), RxMalformed: s.RxMalformed.Load(), RxTooBig: s.RxTooBig.Load(),
		RxFragments: s.RxFragments.Load(), Reassembled: s.Reassembled.Load(), Initiations: s.Initiations.Load(),
	}
	for i := range s.FrameDrops {
		if v := s.FrameDrops[i].Load(); v > 0 {
			if out.FrameDrops == nil {
				out.FrameDrops = map[string]uint64{}
			}
			out.FrameDrops[reassembly.Drop(i).String()] = v
		}
	}
	return out
}

type peer struct {
	name frame.PeerName
	pub  [32]byte
	ep   netip.AddrPort
	box  transport.Endpoint // ep, boxed once so receive does not allocate

	// mtu is the path MTU to ep (the route's, which the kernel lowers on
	// an ICMP "fragmentation needed"/"packet too big"), packet the
	// PacketSize for it; probe is a connected UDP socket that asks the
	// kernel (IP_MTU), nil if it could not be made.
	mtu, packet atomic.Int32
	probe       *net.UDPConn

	// waiting: the first handshake is left to the peer (see startWait);
	// Send drops frames to it and the device has no keepalive for it
	// until data from it arrives or wait fires. wait is guarded by the
	// peers' lock.
	waiting atomic.Bool
	wait    *wait
}

// wait is a peer's wait for its first handshake: endWait acts only on
// the peer's current one.
type wait struct{ timer *time.Timer }

// Transport is the WireGuard transport: a wireguard-go device behind an
// in-process TUN. It implements transport.Transport; all methods are safe
// for concurrent use.
//
// New does no I/O; Open creates the device (its goroutines), binds its UDP
// socket and brings it up; Close closes the device and waits for it.
// PublicKey, ParseEndpoint, Stats and the peer methods work before Open:
// peers added before Open are configured by Open.
type Transport struct {
	self   frame.PeerName
	pub    [32]byte
	priv   [32]byte
	listen netip.AddrPort
	log    *slog.Logger
	v6     bool
	// keepalive is every peer's persistent keepalive, in seconds.
	keepalive     int
	initiateDelay time.Duration

	// mu serialises Open and Close. dev and tun are set by a successful
	// Open, under mu and peers' lock (AddPeer and RemovePeer read dev
	// under peers' lock); local too.
	mu    sync.Mutex
	dev   *device.Device
	tun   *tunDevice
	bind  *bind
	local netip.AddrPort

	txq    chan *txReq
	txPool sync.Pool
	rxq    chan *rxReq
	rxPool sync.Pool
	rxMu   sync.Mutex              // guards rxCur's contents against an abandoning Write
	rxCur  *rxReq                  // only the (single) ReceiveFunc goroutine touches it
	ra     *reassembly.Reassembler // only the ReceiveFunc goroutine touches it

	defaultMTU   int            // path MTU assumed until the kernel says otherwise
	pmtuInterval time.Duration  // how often the poller reads the path MTUs
	quit         chan struct{}  // closed by Close: stops the path MTU poller
	wg           sync.WaitGroup // the path MTU poller

	opened atomic.Bool // set by a successful Open
	closed atomic.Bool // set by Close

	// cfg serialises the changes to the device's peers (AddPeer,
	// RemovePeer, endWait, Open's and Close's) and is held across the
	// device's configuration calls, which the peers' lock never is:
	// removing a device peer waits for that peer's receive routine,
	// which can be waiting in the TUN's Write for the ReceiveFunc, which
	// takes the peers' read lock. Taken before the peers' lock.
	cfg sync.Mutex

	peers struct {
		sync.RWMutex
		byName     map[frame.PeerName]*peer
		byEndpoint map[netip.AddrPort]*peer
	}

	// endpoints caches the endpoint wireguard-go uses for each public
	// key, read from one configuration dump for at most
	// endpointCacheTTL; adding or removing a peer drops it.
	endpoints struct {
		sync.Mutex
		at    time.Time
		byKey map[[32]byte]netip.AddrPort
	}

	stats Stats
}

var _ transport.Transport = (*Transport)(nil)

// New checks cfg and returns a Transport that is not open yet: it binds
// no socket and starts no goroutine. Open creates the device. Peers are
// added with AddPeer.
func New(cfg Config) (*Transport, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t := &Transport{
		self:          cfg.Self,
		pub:           PublicKeyOf(cfg.PrivateKey),
		priv:          cfg.PrivateKey,
		listen:        cfg.Listen,
		log:           ratelimit.OrDiscard(cfg.Logger),
		v6:            !cfg.Listen.Addr().Unmap().Is4(),
		keepalive:     int(cfg.Keepalive / time.Second),
		initiateDelay: cfg.InitiateDelay,
		txq:           make(chan *txReq, txQueueLen),
		rxq:           make(chan *rxReq, rxQueueLen),
		quit:          make(chan struct{}),

		defaultMTU:   cfg.UnderlayMTU,
		pmtuInterval: cfg.PMTUInterval,
	}
	// Slot buffers come from a pool of one per slot, made when first
	// needed: nothing while no frame arrives in fragments.
	t.ra = reassembly.NewPooled(reassembly.DefaultSlots, reassembly.NewPool(reassembly.DefaultSlots), time.Now, &t.stats.FrameDrops)
	t.txPool.New = func() any { return &txReq{done: make(chan struct{}, 1)} }
	t.rxPool.New = func() any { return &rxReq{done: make(chan struct{}, 1)} }
	t.peers.byName = make(map[frame.PeerName]*peer)
	t.peers.byEndpoint = make(map[netip.AddrPort]*peer)
	return t, nil
}

// ipcGetInt returns the first value of key in the device's UAPI dump. t
// must be open.
func (t *Transport) ipcGetInt(key string) (int64, error) {
	return ipcGetInt(t.dev, key)
}

func ipcGetInt(dev *device.Device, key string) (int64, error) {
	s, err := dev.IpcGet()
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && k == key {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in the device configuration", key)
}

// Endpoint returns the address the device sends to peer name now: where
// it was added, or where wireguard-go saw its authenticated packets come
// from last (a NAT's mapping), as a configuration dump at most
// endpointCacheTTL old says. The zero AddrPort if unknown or before Open.
func (t *Transport) Endpoint(name frame.PeerName) netip.AddrPort {
	t.peers.Lock()
	p, dev := t.peers.byName[name], t.dev
	t.peers.Unlock()
	if p == nil || dev == nil {
		return netip.AddrPort{}
	}
	t.endpoints.Lock()
	defer t.endpoints.Unlock()
	if t.endpoints.byKey == nil || time.Since(t.endpoints.at) >= endpointCacheTTL {
		s, err := dev.IpcGet()
		if err != nil {
			return netip.AddrPort{}
		}
		t.endpoints.byKey, t.endpoints.at = parseEndpoints(s), time.Now()
	}
	return t.endpoints.byKey[p.pub]
}

// endpointCacheTTL: status asks for every peer's endpoint in a row; one
// configuration dump serves them all.
const endpointCacheTTL = time.Second

// forgetEndpoints drops the cached endpoints.
func (t *Transport) forgetEndpoints() {
	t.endpoints.Lock()
	t.endpoints.byKey = nil
	t.endpoints.Unlock()
}

// parseEndpoints reads each peer's endpoint from a configuration dump
// (wireguard-go's UAPI "get" format), by public key.
func parseEndpoints(s string) map[[32]byte]netip.AddrPort {
	out := map[[32]byte]netip.AddrPort{}
	var key [32]byte
	in := false
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch {
		case k == "public_key":
			b, err := hex.DecodeString(v)
			in = err == nil && len(b) == len(key)
			if in {
				copy(key[:], b)
			}
		case in && k == "endpoint":
			if ap, err := netip.ParseAddrPort(v); err == nil {
				out[key] = unmap(ap)
			}
		}
	}
	return out
}

// PublicKey returns this peer's public key, for the control plane to send
// to the other peers.
func (t *Transport) PublicKey() [32]byte { return t.pub }

// Stats returns the transport's counters.
func (t *Transport) Stats() *Stats { return &t.stats }

// AddPeer adds (or updates) peer name with its public key and the UDP
// endpoint of its Transport: the device routes fd77:7773::<name>/128 to it
// and keeps the session alive every Config.Keepalive. Send finds the peer by endpoint.
// The first handshake with a new peer is the smaller name's: until the
// peer's data arrives or Config.InitiateDelay passes, frames to a peer
// with a smaller name than Self are dropped (Stats.TxAwaiting). Before
// Open the peer is only recorded; Open configures it. A public key that
// this Transport or another peer has is refused (ErrKeyInUse).
func (t *Transport) AddPeer(name frame.PeerName, publicKey [32]byte, endpoint netip.AddrPort) error {
	if name == frame.UnknownPeer || !endpoint.IsValid() {
		return fmt.Errorf("wireguard: invalid peer %v at %v", name, endpoint)
	}
	if publicKey == t.pub {
		return fmt.Errorf("wireguard: add peer %v: %w: it is this router's own key", name, ErrKeyInUse)
	}
	endpoint = unmap(endpoint)
	defer t.forgetEndpoints()
	t.cfg.Lock()
	defer t.cfg.Unlock()
	t.peers.Lock()
	for other, q := range t.peers.byName {
		if other != name && q.pub == publicKey {
			t.peers.Unlock()
			return fmt.Errorf("wireguard: add peer %v: %w by peer %v", name, ErrKeyInUse, other)
		}
	}
	p := &peer{name: name, pub: publicKey, ep: endpoint, box: transport.AddrPortEndpoint(endpoint)}
	old, dev := t.peers.byName[name], t.dev
	// The same device peer at a new endpoint: its session, or the wait
	// for one, goes on.
	same := old != nil && old.pub == publicKey
	var b strings.Builder
	if dev != nil {
		if old != nil && !same {
			fmt.Fprintf(&b, "public_key=%s\nremove=true\n", hex.EncodeToString(old.pub[:]))
		}
		if same {
			p.waiting.Store(old.waiting.Load())
		} else {
			t.startWait(p)
		}
		t.writePeerConfig(&b, p)
	}
	t.peers.Unlock()
	if dev != nil {
		if err := dev.IpcSet(b.String()); err != nil {
			t.peers.Lock()
			t.stopWait(p)
			t.peers.Unlock()
			return fmt.Errorf("wireguard: add peer %v: %w", name, err)
		}
	}
	t.peers.Lock()
	defer t.peers.Unlock()
	if old != nil {
		delete(t.peers.byEndpoint, old.ep)
		if same {
			// old's data may have ended its wait since.
			p.waiting.Store(old.waiting.Load())
			p.wait, old.wait = old.wait, nil
		}
		t.stopWait(old)
		if old.probe != nil {
			old.probe.Close()
		}
	}
	if dev != nil && !t.closed.Load() {
		t.openProbe(p)
	}
	t.updatePathMTU(p)
	t.peers.byName[name] = p
	t.peers.byEndpoint[endpoint] = p
	return nil
}

// RemovePeer removes peer name (a no-op for an unknown name).
func (t *Transport) RemovePeer(name frame.PeerName) error {
	defer t.forgetEndpoints()
	t.cfg.Lock()
	defer t.cfg.Unlock()
	t.peers.Lock()
	p, dev := t.peers.byName[name], t.dev
	if p == nil {
		t.peers.Unlock()
		return nil
	}
	delete(t.peers.byName, name)
	delete(t.peers.byEndpoint, p.ep)
	t.stopWait(p)
	if p.probe != nil {
		p.probe.Close()
	}
	t.peers.Unlock()
	if dev == nil {
		return nil
	}
	if err := dev.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", hex.EncodeToString(p.pub[:]))); err != nil {
		return fmt.Errorf("wireguard: remove peer %v: %w", name, err)
	}
	return nil
}

// writePeerConfig writes p's UAPI configuration to b: no keepalive
// while the first handshake is left to the peer.
func (t *Transport) writePeerConfig(b *strings.Builder, p *peer) {
	keepalive := t.keepalive
	if p.waiting.Load() {
		keepalive = 0
	}
	fmt.Fprintf(b, "public_key=%s\nendpoint=%s\nreplace_allowed_ips=true\nallowed_ip=%s/128\npersistent_keepalive_interval=%d\n",
		hex.EncodeToString(p.pub[:]), p.ep, netip.AddrFrom16(PeerAddr(p.name)), keepalive)
}

// startWait leaves the first handshake with the new peer p to p if p's
// name is the smaller. Both sides set the peer up at about the same time
// (both ends of a connection, or of a punch): were both devices to
// initiate at once, each would answer the other's initiation and drop
// the answer to its own, and no session would exist until a retry five
// seconds later. So the device stays silent towards p until data from p
// shows a session (receive) or Config.InitiateDelay passes (endWait)
// and the keepalive starts, and with it a handshake if none was made.
// It first sends an opener datagram to p's endpoint, so that its own
// NAT, if any, lets p's initiation in. Called with the peers' lock held,
// before p's configuration is written.
func (t *Transport) startWait(p *peer) {
	t.stopWait(p)
	if p.name >= t.self {
		return
	}
	if t.bind != nil {
		if err := t.bind.sendOpener(p.ep); err != nil {
			t.log.Debug("wireguard: opener not sent", "peer", p.name.String(), "endpoint", p.ep, "err", err)
		}
	}
	p.waiting.Store(true)
	w := &wait{}
	w.timer = time.AfterFunc(t.initiateDelay, func() { t.endWait(p.name, w) })
	p.wait = w
}

// stopWait cancels p's wait timer, if any. Called with the peers' lock
// held.
func (t *Transport) stopWait(p *peer) {
	if p.wait != nil {
		p.wait.timer.Stop()
		p.wait = nil
	}
}

// endWait ends the wait w for peer name, if it is still that peer's:
// frames go to it, and its keepalive is set, which makes the device
// send one at once and so start a handshake if the peer's did not make
// a session.
func (t *Transport) endWait(name frame.PeerName, w *wait) {
	t.cfg.Lock()
	defer t.cfg.Unlock()
	t.peers.Lock()
	p, dev := t.peers.byName[name], t.dev
	if p == nil || p.wait != w || dev == nil || t.closed.Load() {
		t.peers.Unlock()
		return // replaced, removed, or the Open that started it failed
	}
	p.wait = nil
	p.waiting.Store(false)
	t.peers.Unlock()
	if err := dev.IpcSet(fmt.Sprintf("public_key=%s\npersistent_keepalive_interval=%d\n", hex.EncodeToString(p.pub[:]), t.keepalive)); err != nil {
		t.log.Error("wireguard: setting a peer's keepalive", "peer", name.String(), "err", err)
	}
}

// openProbe makes p's path MTU socket: a connected UDP socket that sends
// nothing. Called with peers' lock held, once t is open.
func (t *Transport) openProbe(p *peer) {
	p.probe, _ = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(p.ep))
}

func unmap(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Open implements transport.Transport.Open: it creates the wireguard-go
// device (its goroutines), binds its UDP socket (in the network namespace
// of the calling thread), brings it up, configures the peers added so far
// and starts the path MTU poller. It returns one ReceiveFunc and the bound
// address (the configured address with the actual port). It fails if t is
// already open, and with an error that Is net.ErrClosed after Close; a
// failed Open leaves nothing running.
func (t *Transport) Open() ([]transport.ReceiveFunc, netip.AddrPort, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Load() {
		return nil, netip.AddrPort{}, t.opErr("open", nil, transport.ErrClosed)
	}
	if t.dev != nil {
		return nil, netip.AddrPort{}, t.opErr("open", nil, errors.New("already open"))
	}
	tun := newTunDevice(t)
	bd := newBind(socketBuffer, &t.stats.Initiations)
	dev := device.NewDevice(tun, bd, deviceLogger(t.log))
	ok := false
	defer func() {
		if !ok {
			dev.Close() // closes tun too
		}
	}()
	if err := dev.IpcSet(fmt.Sprintf("private_key=%s\nlisten_port=%d\n",
		hex.EncodeToString(t.priv[:]), t.listen.Port())); err != nil {
		return nil, netip.AddrPort{}, t.opErr("open", nil, err)
	}
	if err := dev.Up(); err != nil {
		return nil, netip.AddrPort{}, t.opErr("open", nil, err)
	}
	port, err := ipcGetInt(dev, "listen_port")
	if err != nil {
		return nil, netip.AddrPort{}, t.opErr("open", nil, err)
	}
	t.cfg.Lock()
	defer t.cfg.Unlock()
	t.peers.Lock()
	var b strings.Builder
	t.bind = bd // for the openers of startWait
	for _, p := range t.peers.byName {
		t.startWait(p)
		t.writePeerConfig(&b, p)
	}
	t.peers.Unlock()
	if b.Len() > 0 {
		if err := dev.IpcSet(b.String()); err != nil {
			return nil, netip.AddrPort{}, t.opErr("open", nil, fmt.Errorf("adding peers: %w", err))
		}
	}
	t.peers.Lock()
	for _, p := range t.peers.byName {
		t.openProbe(p)
		t.updatePathMTU(p)
	}
	t.dev, t.tun = dev, tun
	t.local = netip.AddrPortFrom(t.listen.Addr(), uint16(port))
	t.peers.Unlock()
	ok = true
	t.opened.Store(true)
	t.wg.Add(1)
	go t.pollPathMTU()
	return []transport.ReceiveFunc{t.receive}, t.local, nil
}

// Send implements transport.Transport.Send. ep must be the endpoint of a
// peer given to AddPeer; the frames go to it as IPv6 packets to its link
// address, encrypted by the device (which first completes a handshake,
// holding up to 128 packets meanwhile). Send copies the frames into the
// device's buffers and returns when they are copied; it does not touch
// b's headroom. If the send queue is full the batch is dropped and counted
// (no error): Send only waits for the device's TUN reader, which never
// blocks on the network. Frames over MaxFrameSize are dropped and reported
// with ErrFrameTooBig. Safe for concurrent use.
func (t *Transport) Send(b *frame.Batch, ep transport.Endpoint) error {
	if t.closed.Load() {
		return t.opErr("send", ep, transport.ErrClosed)
	}
	if !t.opened.Load() {
		return t.opErr("send", ep, errNotOpen)
	}
	if b.N == 0 {
		return nil
	}
	t.peers.RLock()
	p := t.peers.byEndpoint[unmap(ep.DstAddrPort())]
	t.peers.RUnlock()
	if p == nil {
		return t.opErr("send", ep, ErrUnknownPeer)
	}
	if p.waiting.Load() {
		t.stats.TxAwaiting.Add(uint64(b.N))
		return nil
	}
	r := t.txPool.Get().(*txReq)
	r.b, r.via, r.packet, r.next, r.split, r.tooBig = b, p.name, int(p.packet.Load()), 0, fragment.Splitter{}, 0
	select {
	case t.txq <- r:
	default:
		t.stats.TxDropped.Add(uint64(b.N))
		r.b = nil
		t.txPool.Put(r)
		return nil
	}
	select {
	case <-r.done:
	case <-t.tun.closed:
		t.tun.txMu.Lock()
		r.abandoned = true // r may still be queued: not pooled again
		t.tun.txMu.Unlock()
		return t.opErr("send", ep, transport.ErrClosed)
	}
	tooBig := r.tooBig
	r.b = nil
	t.txPool.Put(r)
	if tooBig > 0 {
		return t.opErr("send", ep, ErrFrameTooBig)
	}
	return nil
}

func (t *Transport) opErr(op string, ep transport.Endpoint, err error) error {
	e := &transport.OpError{Op: op, Transport: "wireguard", Err: err}
	if ep != nil {
		e.Peer = ep.String()
	}
	return e
}

// receive is the ReceiveFunc: it decodes the packets of queued device
// Writes into b. Packets that are not frames of this overlay (for example
// an ICMPv6 packet from a stock WireGuard peer) or not addressed to Self
// are dropped and counted as RxMalformed.
func (t *Transport) receive(b *frame.Batch, eps []transport.Endpoint) (int, error) {
	max := min(b.Cap(), len(eps))
	for {
		if t.rxCur == nil {
			select {
			case r := <-t.rxq:
				t.rxCur = r
			case <-t.tun.closed:
				b.N = 0
				return 0, &transport.OpError{Op: "receive", Transport: "wireguard", Err: transport.ErrClosed}
			}
		}
		if n := t.drain(b, eps, max); n > 0 {
			b.N = n
			return n, nil
		}
	}
}

func (t *Transport) drain(b *frame.Batch, eps []transport.Endpoint, max int) int {
	t.rxMu.Lock()
	defer t.rxMu.Unlock()
	r := t.rxCur
	if r.abandoned {
		t.rxCur = nil
		return 0
	}
	var d decoded
	n, frames := 0, 0
	t.ra.Tick()
	t.peers.RLock()
	for r.next < len(r.bufs) && n < max {
		pkt := r.bufs[r.next][r.offset:]
		r.next++
		if err := decode(pkt, &d); err != nil || d.To != t.self {
			t.stats.RxMalformed.Add(1)
			continue
		}
		p := t.peers.byName[d.Via]
		if p == nil {
			t.stats.RxDropped.Add(1)
			continue
		}
		if p.waiting.Load() {
			// The peer's handshake made a session: answer on it.
			p.waiting.Store(false)
		}
		fr, meta, slot := d.Frame, d.Meta, -1
		if d.Frag {
			t.stats.RxFragments.Add(1)
			f := reassembly.Fragment{Key: reassembly.Key{From: p.ep, Sender: d.Via, ID: d.ID},
				Meta: d.Meta, Offset: d.Offset, Total: d.Total, Data: d.Frame}
			var ok bool
			if fr, meta, slot, ok = t.ra.Add(&f); !ok {
				continue
			}
			t.stats.Reassembled.Add(1)
		}
		room := b.Room(n)
		if len(fr) > len(room) {
			t.stats.RxTooBig.Add(1)
			t.ra.Release(slot)
			continue
		}
		b.Sizes[n] = copy(room, fr)
		t.ra.Release(slot)
		b.Meta[n] = meta
		eps[n] = p.box
		n++
		frames++
	}
	t.peers.RUnlock()
	t.stats.RxFrames.Add(uint64(frames))
	if r.next >= len(r.bufs) {
		t.rxCur = nil
		r.done <- struct{}{}
	}
	return n
}

// ParseEndpoint implements transport.Transport.ParseEndpoint.
func (t *Transport) ParseEndpoint(s string) (transport.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("wireguard: %w", err)
	}
	return transport.AddrPortEndpoint(unmap(ap)), nil
}

// BatchSize implements transport.Transport.BatchSize: conn.IdealBatchSize
// (128 on Linux).
func (t *Transport) BatchSize() int { return conn.IdealBatchSize }

// Overhead implements transport.Transport.Overhead: IPv4 (IPv6 if Listen
// is IPv6) and UDP headers, the WireGuard message framing (32), its
// padding (at most 15), the IPv6 header (40), the overlay header (14) and
// a GSO descriptor (10): 139 bytes over IPv4, 159 over IPv6.
func (t *Transport) Overhead() int {
	ip := ipv4UDPOverhead
	if t.v6 {
		ip = ipv6UDPOverhead
	}
	return ip + MessageOverhead + MaxPadding + IPv6HeaderSize + HeaderSize + GSOSize
}

// Close implements transport.Transport.Close: it closes the device (its
// socket and goroutines), which unblocks every ReceiveFunc and Send with
// an error that Is net.ErrClosed, and stops the path MTU poller.
// Idempotent, and safe before Open; returns when the device's goroutines
// and the poller have ended.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed.Swap(true) {
		return nil
	}
	close(t.quit)
	if t.dev != nil {
		t.dev.Close()
		<-t.dev.Wait()
	}
	t.wg.Wait()
	t.cfg.Lock()
	defer t.cfg.Unlock()
	t.peers.Lock()
	for _, p := range t.peers.byName {
		t.stopWait(p)
		if p.probe != nil {
			p.probe.Close()
		}
	}
	t.peers.Unlock()
	return nil
}

// pollPathMTU asks the kernel for every peer's path MTU every
// PMTUInterval until Close.
func (t *Transport) pollPathMTU() {
	defer t.wg.Done()
	tk := time.NewTicker(t.pmtuInterval)
	defer tk.Stop()
	for {
		select {
		case <-t.quit:
			return
		case <-tk.C:
		}
		t.peers.RLock()
		for _, p := range t.peers.byName {
			t.updatePathMTU(p)
		}
		t.peers.RUnlock()
	}
}

// updatePathMTU reads p's path MTU from the kernel (the route's MTU, which
// an ICMP "fragmentation needed"/"packet too big" lowers, as does a
// smaller interface MTU) and sizes its packets to it. Until the kernel
// knows better, or without a probe socket, the path MTU is UnderlayMTU.
func (t *Transport) updatePathMTU(p *peer) {
	mtu := t.defaultMTU
	if p.probe != nil {
		if m, err := udpbatch.SocketMTU(p.probe, !p.ep.Addr().Is4()); err == nil && m > 0 {
			mtu = min(m, mtu)
		}
	}
	if int(p.mtu.Swap(int32(mtu))) != mtu {
		p.packet.Store(int32(PacketSize(mtu, !p.ep.Addr().Is4())))
	}
}

// PathMTU returns the path MTU to peer name in use for cutting frames into
// packets, or 0 for an unknown peer.
func (t *Transport) PathMTU(name frame.PeerName) int {
	t.peers.RLock()
	defer t.peers.RUnlock()
	if p := t.peers.byName[name]; p != nil {
		return int(p.mtu.Load())
	}
	return 0
}
