package sleeve

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"github.com/weave-switch/weave-switch/transport"
)

var _ transport.Transport = (*Sleeve)(nil)

var (
	errNotOpen     = errors.New("not open")
	errAlreadyOpen = errors.New("already open")
)

// Sleeve is the UDP transport. Create it with New, then Open it. Send,
// ParseEndpoint, SetKeys, RemoveKeys, Stats and Close are safe for
// concurrent use; each
// ReceiveFunc must be called from one goroutine at a time. A Sleeve starts
// no goroutine.
//
// Memory: the ReceiveFunc holds its receive buffers, made as reads need
// them (at most 4 MiB with UDP GRO: 64 of 64 KiB; else BatchSize of
// MaxDatagramSize+1 bytes, 1.1 MiB at 128; 4 of them when the reads
// bring a datagram or two) and a reassembly pool of 32 frame.MaxSuperFrameSize buffers
// (2.3 MiB with their bitmaps); each concurrent Send uses a send state of
// 512 KiB of scratch plus about 190 bytes per datagram slot
// (2*BatchSize+512 slots, 140 KiB at 128), kept in a free list of up to
// min(max(GOMAXPROCS, 2), 8) states. Each peer with keys costs about
// 2.5 KiB (two ciphers and a 1 KiB replay window per receive key), and
// 1.25 KiB more per key with AES-256-GCM (its key schedule and GHASH
// tables): about 5 KiB.
type Sleeve struct {
	cfg Config // with defaults
	log *ratelimit.Logger
	now func() time.Time // reassembly timeouts

	fragIDs fragment.IDs // numbers the frames sent in fragments

	mu     sync.Mutex // serialises Open and Close
	sock   atomic.Pointer[socket]
	closed atomic.Bool

	// Send states: a bounded free list, filled lazily (see Send).
	free    chan *sendState
	nStates atomic.Int32

	keys    keyring   // encryption keys per peer (SetKeys)
	ciphers []Cipher  // accepted on links, the preferred first; nil without Encrypt
	pmtu    pmtuTable // path MTUs learned per destination

	stats counters
}

// socket is the bound UDP socket, set once by Open.
type socket struct {
	conn  *net.UDPConn
	local netip.AddrPort
}

// New checks cfg and returns a Sleeve that is not bound yet: Open binds it.
func New(cfg Config) (*Sleeve, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	if os.Getenv("WEAVE_DEBUG_SLEEVE_NO_GSO") == "1" {
		c.noGSO = true
	}
	if os.Getenv("WEAVE_DEBUG_SLEEVE_NO_GRO") == "1" {
		c.noGRO = true
	}
	s := &Sleeve{
		cfg:  c,
		log:  ratelimit.NewLogger(c.Logger, 10*time.Second, 10),
		now:  time.Now,
		free: make(chan *sendState, min(max(runtime.GOMAXPROCS(0), 2), 8)),
	}
	s.keys.init()
	if c.Encrypt {
		s.ciphers = acceptedCiphers(c.Cipher, HasHardwareAES() && !c.NoHardwareAES)
	}
	// A random first id, so that a restarted peer does not reuse the ids
	// of frames its receivers may still be reassembling.
	s.fragIDs.Seed(rand.Uint32())
	return s, nil
}

// Open implements transport.Transport.Open: it binds Config.Listen, sets
// the socket buffers, probes UDP GSO and enables UDP GRO (see
// Stats.GSO and Stats.GRO; WEAVE_DEBUG_SLEEVE_NO_GSO=1 and
// WEAVE_DEBUG_SLEEVE_NO_GRO=1 turn them off) and returns one ReceiveFunc
// and the bound address. It fails if s is already open, and returns
// transport.ErrClosed after Close.
func (s *Sleeve) Open() ([]transport.ReceiveFunc, netip.AddrPort, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, netip.AddrPort{}, transport.ErrClosed
	}
	if s.sock.Load() != nil {
		return nil, netip.AddrPort{}, s.opError("open", "", errAlreadyOpen)
	}
	network := "udp"
	if s.cfg.Listen.Addr().Is4() {
		network = "udp4"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(s.cfg.Listen))
	if err != nil {
		return nil, netip.AddrPort{}, s.opError("open", "", err)
	}
	ok := false
	defer func() {
		if !ok {
			conn.Close()
		}
	}()
	rcv, snd, err := udpbatch.SetSocketBuffers(conn, s.cfg.SocketBuffer)
	if err != nil {
		return nil, netip.AddrPort{}, s.opError("open", "", fmt.Errorf("setting socket buffers: %w", err))
	}
	s.stats.recvBuffer.Store(int64(rcv))
	s.stats.sendBuffer.Store(int64(snd))
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	sk := &socket{conn: conn, local: local}
	gso, gro := udpbatch.SetupOffloads(conn, !s.cfg.noGSO, !s.cfg.noGRO)
	s.stats.gso.Store(gso)
	s.stats.gro.Store(gro)
	r, err := newReceiver(s, conn, gro, s.now)
	if err != nil {
		return nil, netip.AddrPort{}, s.opError("open", "", err)
	}
	s.sock.Store(sk)
	ok = true
	return []transport.ReceiveFunc{r.receive}, local, nil
}

// LocalAddr returns the bound address, or the zero AddrPort before Open.
func (s *Sleeve) LocalAddr() netip.AddrPort {
	if sk := s.sock.Load(); sk != nil {
		return sk.local
	}
	return netip.AddrPort{}
}

// BatchSize implements transport.Transport.BatchSize: Config.BatchSize.
func (s *Sleeve) BatchSize() int { return s.cfg.BatchSize }

// Overhead implements transport.Transport.Overhead: IP and UDP headers plus
// the sleeve header, one frame header and its GSO descriptor; 60 on an
// IPv4 socket, 80 if Listen is IPv6 (the dual-stack socket may carry
// IPv6). With Config.Encrypt, the counter and tag add EncryptionOverhead:
// 84 and 104. A frame of the overlay MTU thus always fits one datagram,
// even with offload information: at an underlay MTU of 1500 the overlay
// MTU is 1426 plain, 1402 encrypted (IPv4).
func (s *Sleeve) Overhead() int {
	ip := ipv4UDPOverhead
	if !s.cfg.Listen.Addr().Is4() {
		ip = ipv6UDPOverhead
	}
	n := ip + HeaderSize + FrameHeaderSize + GSOSize
	if s.cfg.Encrypt {
		n += EncryptionOverhead
	}
	return n
}

// Stats returns a snapshot of s's counters.
func (s *Sleeve) Stats() Stats {
	st := s.stats.snapshot()
	st.PathMTU = s.pmtu.snapshot(s.now())
	return st
}

// Close implements transport.Transport.Close: it closes the socket, which
// unblocks every ReceiveFunc (they then return transport.ErrClosed, which
// Is net.ErrClosed). It is idempotent.
func (s *Sleeve) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	if sk := s.sock.Load(); sk != nil {
		if err := sk.conn.Close(); err != nil {
			return s.opError("close", "", err)
		}
	}
	return nil
}

func (s *Sleeve) opError(op, peer string, err error) error {
	return &transport.OpError{Op: op, Transport: "sleeve", Peer: peer, Err: err}
}

// datagramLimit returns the largest datagram to build for dst.
func (s *Sleeve) datagramLimit(dst netip.Addr) int {
	ip := ipv4UDPOverhead
	if dst.Is6() && !dst.Is4In6() {
		ip = ipv6UDPOverhead
	}
	mtu := s.cfg.UnderlayMTU
	if learned := s.pmtu.lookup(dst, s.now()); learned != 0 {
		mtu = min(mtu, learned)
	}
	return min(mtu-ip, MaxDatagramSize)
}
