package quictransport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	quic "github.com/quic-go/quic-go"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	"github.com/weave-switch/weave-switch/internal/reassembly"
	"github.com/weave-switch/weave-switch/transport"
)

var _ transport.Transport = (*Transport)(nil)

// Errors of the QUIC transport.
var (
	// ErrNoPeer is returned by Send to an endpoint no AddPeer named.
	ErrNoPeer = errors.New("no peer at this endpoint")
	// ErrNoConnection is returned by Send to a peer whose connection is
	// not (yet, or no longer) up.
	ErrNoConnection = errors.New("no connection to peer")
	// ErrNotPinned is the handshake error for a certificate that is not
	// the pinned one.
	ErrNotPinned = errors.New("peer certificate not pinned")
)

// Transport is the QUIC transport. Its methods are safe for concurrent
// use; see the package doc for the lifecycle.
type Transport struct {
	cfg      Config
	cert     tls.Certificate
	certHash [32]byte
	log      *ratelimit.Logger
	stats    stats
	fragIDs  fragment.IDs

	// peers is written under mu and read lock-free by Send (byAddr).
	mu struct {
		sync.Mutex
		byName map[frame.PeerName]*peer
		byHash map[[32]byte]*peer
		opened bool
		closed bool
		udp    *net.UDPConn
		qt     *quic.Transport
		ln     *quic.Listener
	}
	byAddr atomic.Pointer[map[netip.AddrPort]*peer]

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	rq     *recvQueue
	pool   *reassembly.Pool
	gate   *rxGate
}

// peer is one pinned peer and its link.
type peer struct {
	name   frame.PeerName
	hash   [32]byte
	addr   netip.AddrPort
	ep     transport.Endpoint // addr, boxed once so receive does not allocate
	dials  bool               // this side dials (AddPeer's dial)
	ctx    context.Context    // cancelled by RemovePeer and Close
	cancel context.CancelFunc
	link   atomic.Pointer[link]
	probe  *net.UDPConn // connected, for the kernel's path MTU; may be nil
	mtu    atomic.Int32 // path MTU last read
}

// link is one QUIC connection to a peer.
type link struct {
	p    *peer
	conn *quic.Conn
	mtu  int // path MTU when connected (checkPathMTU may raise it)
	// maxPayload is the largest datagram payload quic-go accepted last
	// (from DatagramTooLargeError); 0 until the first refusal.
	maxPayload atomic.Int64
	probe      atomic.Uint32
}

// New returns a Transport for cfg; Open binds it. It generates an
// ephemeral certificate if cfg.Certificate is nil.
func New(cfg Config) (*Transport, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	t := &Transport{cfg: cfg, log: ratelimit.NewLogger(cfg.Logger, time.Second, 5)}
	if cfg.Certificate != nil {
		t.cert = *cfg.Certificate
	} else {
		c, err := GenerateCert()
		if err != nil {
			return nil, fmt.Errorf("quic: generating certificate: %w", err)
		}
		t.cert = c
	}
	t.certHash = HashCert(t.cert.Certificate[0])
	t.mu.byName = make(map[frame.PeerName]*peer)
	t.mu.byHash = make(map[[32]byte]*peer)
	t.byAddr.Store(&map[netip.AddrPort]*peer{})
	t.ctx, t.cancel = context.WithCancel(context.Background())
	t.rq = newRecvQueue(cfg.ReceiveQueue)
	t.pool = reassembly.NewPool(reassemblyBuffers)
	t.gate = newRxGate()
	return t, nil
}

// CertHash returns the SHA-256 of this transport's leaf certificate (DER),
// the value the control plane announces so that peers can pin it.
func (t *Transport) CertHash() [32]byte { return t.certHash }

// AddPeer pins peer name to certHash, at endpoint. With dial this side
// dials it (now, or at Open), reconnecting with bounded backoff for as
// long as the peer stays added; otherwise it accepts the peer's
// connection, from whatever address it comes (a peer behind NAT dials
// from an address of its NAT's choosing, and quic-go follows it when the
// NAT maps it anew), and never dials. The two sides must agree: the
// control plane makes the side that dialled its connection dial, since
// that one can reach the other. Adding a peer again replaces it (and its
// connection). Send finds the peer by endpoint, so two peers cannot share
// one.
func (t *Transport) AddPeer(name frame.PeerName, certHash [32]byte, endpoint netip.AddrPort, dial bool) error {
	if name == frame.UnknownPeer || name == t.cfg.Self {
		return fmt.Errorf("quic: cannot add peer %v", name)
	}
	if !endpoint.IsValid() || endpoint.Port() == 0 {
		return fmt.Errorf("quic: invalid endpoint %v for peer %v", endpoint, name)
	}
	endpoint = netip.AddrPortFrom(endpoint.Addr().Unmap(), endpoint.Port())
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return transport.ErrClosed
	}
	if q, ok := (*t.byAddr.Load())[endpoint]; ok && q.name != name {
		return fmt.Errorf("quic: endpoint %v already belongs to peer %v", endpoint, q.name)
	}
	if q, ok := t.mu.byHash[certHash]; ok && q.name != name {
		return fmt.Errorf("quic: certificate already pinned for peer %v", q.name)
	}
	t.removePeerLocked(name)
	p := &peer{name: name, hash: certHash, addr: endpoint, ep: transport.AddrPortEndpoint(endpoint), dials: dial}
	p.ctx, p.cancel = context.WithCancel(t.ctx)
	p.mtu.Store(int32(t.cfg.UnderlayMTU))
	if t.mu.opened {
		t.openProbe(p)
	}
	t.mu.byName[name] = p
	t.mu.byHash[certHash] = p
	t.storeAddrsLocked()
	if t.mu.opened && p.dials {
		t.wg.Add(1)
		go t.routineDial(p)
	}
	return nil
}

// RemovePeer unpins a peer and closes its connection. Removing an unknown
// peer does nothing.
func (t *Transport) RemovePeer(name frame.PeerName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removePeerLocked(name)
	t.storeAddrsLocked()
}

func (t *Transport) removePeerLocked(name frame.PeerName) {
	p, ok := t.mu.byName[name]
	if !ok {
		return
	}
	delete(t.mu.byName, name)
	delete(t.mu.byHash, p.hash)
	p.cancel()
	if l := p.link.Swap(nil); l != nil {
		l.conn.CloseWithError(0, "peer removed")
	}
	if p.probe != nil {
		p.probe.Close()
	}
}

func (t *Transport) storeAddrsLocked() {
	m := make(map[netip.AddrPort]*peer, len(t.mu.byName))
	for _, p := range t.mu.byName {
		m[p.addr] = p
	}
	t.byAddr.Store(&m)
}

// Endpoint returns the address the connection to peer name uses now (the
// peer's NAT's, for a peer that dialled from behind one), or the zero
// AddrPort if it has none.
func (t *Transport) Endpoint(name frame.PeerName) netip.AddrPort {
	t.mu.Lock()
	p := t.mu.byName[name]
	t.mu.Unlock()
	if p == nil {
		return netip.AddrPort{}
	}
	l := p.link.Load()
	if l == nil {
		return netip.AddrPort{}
	}
	ua, ok := l.conn.RemoteAddr().(*net.UDPAddr)
	if !ok {
		return netip.AddrPort{}
	}
	ap := ua.AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// PeerConnected reports whether the link to peer name is up.
func (t *Transport) PeerConnected(name frame.PeerName) bool {
	t.mu.Lock()
	p := t.mu.byName[name]
	t.mu.Unlock()
	return p != nil && p.link.Load() != nil
}

// Open implements transport.Transport.Open: it binds the UDP socket,
// starts accepting, dials the peers added so far, and returns one
// ReceiveFunc.
func (t *Transport) Open() ([]transport.ReceiveFunc, netip.AddrPort, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.closed {
		return nil, netip.AddrPort{}, transport.ErrClosed
	}
	if t.mu.opened {
		return nil, netip.AddrPort{}, &transport.OpError{Op: "open", Transport: "quic", Err: errors.New("already open")}
	}
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(t.cfg.Listen))
	if err != nil {
		return nil, netip.AddrPort{}, &transport.OpError{Op: "open", Transport: "quic", Err: err}
	}
	qt := &quic.Transport{Conn: newGROConn(udp, t.gate), ConnectionIDLength: connectionIDLength}
	ln, err := qt.Listen(t.serverTLS(), t.quicConfig())
	if err != nil {
		qt.Close()
		udp.Close()
		return nil, netip.AddrPort{}, &transport.OpError{Op: "open", Transport: "quic", Err: err}
	}
	t.mu.opened, t.mu.udp, t.mu.qt, t.mu.ln = true, udp, qt, ln
	t.wg.Add(2)
	go t.routineAccept(ln)
	go t.routinePathMTU()
	for _, p := range t.mu.byName {
		t.openProbe(p)
		if p.dials {
			t.wg.Add(1)
			go t.routineDial(p)
		}
	}
	local := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	return []transport.ReceiveFunc{t.newReceiveFunc()}, local, nil
}

// Close implements transport.Transport.Close: it closes every connection
// (CONNECTION_CLOSE to each peer), the listener and the socket, unblocks
// the ReceiveFunc with an error that Is net.ErrClosed, and waits for its
// goroutines. It is idempotent.
func (t *Transport) Close() error {
	t.mu.Lock()
	if t.mu.closed {
		t.mu.Unlock()
		return nil
	}
	t.mu.closed = true
	t.cancel()
	for name := range t.mu.byName {
		t.removePeerLocked(name)
	}
	t.storeAddrsLocked()
	ln, qt, udp := t.mu.ln, t.mu.qt, t.mu.udp
	t.mu.Unlock()
	t.rq.close()
	if ln != nil {
		ln.Close()
	}
	if qt != nil {
		qt.Close()
	}
	if udp != nil {
		udp.Close()
	}
	t.wg.Wait()
	t.rq.drain(t.pool)
	return nil
}

// BatchSize implements transport.Transport.BatchSize.
func (t *Transport) BatchSize() int { return DefaultBatchSize }

// ParseEndpoint implements transport.Transport.ParseEndpoint: HOST:PORT,
// or HOST alone for DefaultPort (IP literals only).
func (t *Transport) ParseEndpoint(s string) (transport.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		a, err2 := netip.ParseAddr(s)
		if err2 != nil {
			return nil, fmt.Errorf("quic: invalid endpoint %q: %w", s, err)
		}
		ap = netip.AddrPortFrom(a, DefaultPort)
	}
	if ap.Port() == 0 || ap.Addr().IsUnspecified() {
		return nil, fmt.Errorf("quic: invalid endpoint %q", s)
	}
	return transport.AddrPortEndpoint(netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())), nil
}

func (t *Transport) quicConfig() *quic.Config {
	c := t.baseQUICConfig()
	// Accepted connections start at a packet size that fits the path to
	// the peer (see pmtu.go).
	c.GetConfigForClient = func(info *quic.ClientInfo) (*quic.Config, error) {
		cc := t.baseQUICConfig()
		if ua, ok := info.RemoteAddr.(*net.UDPAddr); ok {
			ap := ua.AddrPort()
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if p := (*t.byAddr.Load())[ap]; p != nil {
				cc.InitialPacketSize = initialPacketSize(int(p.mtu.Load()), !ap.Addr().Is4())
			}
		}
		return cc, nil
	}
	return c
}

func (t *Transport) baseQUICConfig() *quic.Config {
	c := &quic.Config{
		EnableDatagrams:       true,
		KeepAlivePeriod:       t.cfg.KeepAlive,
		MaxIdleTimeout:        t.cfg.IdleTimeout,
		HandshakeIdleTimeout:  t.cfg.HandshakeTimeout,
		MaxIncomingStreams:    -1,
		MaxIncomingUniStreams: -1,
		Tracer:                t.tracer,
	}
	return c
}

// serverTLS requires a client certificate and accepts it only if its
// leaf hash is pinned for some peer. crypto/tls does not verify the chain
// (RequireAnyClientCert) but does verify the handshake signature, so the
// client proves it holds the pinned certificate's key.
func (t *Transport) serverTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{t.cert},
		NextProtos:   []string{ALPN},
		ClientAuth:   tls.RequireAnyClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return t.refuse("no client certificate", frame.UnknownPeer)
			}
			t.mu.Lock()
			_, ok := t.mu.byHash[HashCert(raw[0])]
			t.mu.Unlock()
			if !ok {
				return t.refuse("client certificate not pinned", frame.UnknownPeer)
			}
			return nil
		},
	}
}

// clientTLS is for dialing p: InsecureSkipVerify turns off the CA chain
// check, and VerifyPeerCertificate replaces it by the pin: the server's
// leaf must hash to p.hash (and its handshake signature, which crypto/tls
// still verifies, proves it holds the key).
func (t *Transport) clientTLS(p *peer) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS13,
		Certificates:       []tls.Certificate{t.cert},
		NextProtos:         []string{ALPN},
		ServerName:         "weave-switch",
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 || HashCert(raw[0]) != p.hash {
				return t.refuse("server certificate does not match the pin", p.name)
			}
			return nil
		},
	}
}

func (t *Transport) refuse(why string, name frame.PeerName) error {
	t.stats.refused.Add(1)
	t.log.Log(slog.LevelWarn, "refused handshake", "peer", name, "why", why)
	return ErrNotPinned
}

// routineDial keeps a connection to p up while p is added.
func (t *Transport) routineDial(p *peer) {
	defer t.wg.Done()
	t.mu.Lock()
	qt := t.mu.qt
	t.mu.Unlock()
	backoff := minBackoff
	for {
		qc := t.quicConfig()
		qc.InitialPacketSize = initialPacketSize(int(p.mtu.Load()), !p.addr.Addr().Is4())
		qc.MaxIncomingUniStreams = 1 // the acceptor's "accepted" stream
		c, err := qt.Dial(p.ctx, net.UDPAddrFromAddrPort(p.addr), t.clientTLS(p), qc)
		if err == nil {
			err = t.awaitAccepted(c)
		}
		if err == nil {
			backoff = minBackoff
			if l := t.attach(p, c); l != nil {
				t.receiveLoop(l)
				t.detach(l)
			}
		} else if p.ctx.Err() == nil {
			t.stats.dialErrors.Add(1)
			t.log.Log(slog.LevelWarn, "dial failed", "peer", p.name, "addr", p.addr, "err", err)
		}
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, t.cfg.MaxBackoff)
	}
}

// Dial returns once the client's side of the handshake is complete,
// before the server has checked the client's certificate (TLS 1.3 sends it
// last). So the acceptor, once its pin check passed and the link is
// attached, opens a unidirectional stream and writes one byte; the dialer
// attaches the link only when that byte arrived. A server that refuses our
// certificate never gives us a link, not even for a round trip.

// awaitAccepted waits for the acceptor's byte, the connection's end, or
// the handshake timeout.
func (t *Transport) awaitAccepted(c *quic.Conn) error {
	ctx, cancel := context.WithTimeout(c.Context(), t.cfg.HandshakeTimeout)
	defer cancel()
	s, err := c.AcceptUniStream(ctx)
	if err == nil {
		var b [1]byte
		_, err = io.ReadFull(s, b[:])
	}
	if err != nil {
		c.CloseWithError(1, "not accepted")
		return fmt.Errorf("peer did not accept the link: %w", err)
	}
	return nil
}

// signalAccepted tells the dialer of c that its link is attached.
func signalAccepted(c *quic.Conn) {
	s, err := c.OpenUniStream()
	if err != nil {
		return // the connection is going away
	}
	_, _ = s.Write([]byte{1})
	_ = s.Close()
}

// routineAccept accepts connections from pinned peers that dial us.
func (t *Transport) routineAccept(ln *quic.Listener) {
	defer t.wg.Done()
	for {
		c, err := ln.Accept(t.ctx)
		if err != nil {
			return // closed
		}
		state := c.ConnectionState()
		var p *peer
		if certs := state.TLS.PeerCertificates; len(certs) > 0 {
			t.mu.Lock()
			p = t.mu.byHash[HashCert(certs[0].Raw)]
			t.mu.Unlock()
		}
		switch {
		case p == nil:
			t.refuse("peer unpinned during handshake", frame.UnknownPeer)
			c.CloseWithError(1, "not pinned")
			continue
		case p.dials:
			t.refuse("peer dialed but this side dials it", p.name)
			c.CloseWithError(1, "wrong direction")
			continue
		case !state.SupportsDatagrams.Remote:
			t.refuse("peer does not support datagrams", p.name)
			c.CloseWithError(1, "datagrams required")
			continue
		}
		l := t.attach(p, c)
		if l == nil {
			continue
		}
		signalAccepted(c)
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			t.receiveLoop(l)
			t.detach(l)
		}()
	}
}

// attach makes c the link of p, closing any previous one. It returns nil
// (and closes c) if p was removed meanwhile.
func (t *Transport) attach(p *peer, c *quic.Conn) *link {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mu.byName[p.name] != p || p.ctx.Err() != nil {
		c.CloseWithError(0, "peer removed")
		return nil
	}
	l := &link{p: p, conn: c, mtu: int(p.mtu.Load())}
	if old := p.link.Swap(l); old != nil {
		old.conn.CloseWithError(0, "replaced")
	}
	t.stats.connects.Add(1)
	t.log.Slog().Info("connected", "peer", p.name, "addr", c.RemoteAddr())
	return l
}

func (t *Transport) detach(l *link) {
	l.p.link.CompareAndSwap(l, nil)
	l.conn.CloseWithError(0, "")
	t.log.Slog().Info("disconnected", "peer", l.p.name)
}

// connectionIDLength is the length of the connection IDs this side issues
// (the peer's short-header packets carry them). quic-go sizes DATAGRAM
// payloads by a conservative estimate that assumes 20-byte connection IDs;
// with its default 4-byte IDs every packet carrying a piece of the
// maximum size is 13 bytes short of a full packet, and a short packet ends
// a UDP GSO batch, so each packet costs a sendmsg of its own. With 17-byte
// IDs (and quic-go's 2-byte packet numbers, which cover its 10,000-packet
// congestion window limit) such a packet is exactly full and the pieces
// of a super-frame leave in GSO batches.
const connectionIDLength = 17
