package quictransport

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// DefaultPort is the UDP port of the QUIC transport, next to the sleeve's
// 6783.
const DefaultPort = 6784

// ALPN is the TLS application protocol both sides require.
const ALPN = "weave-switch/1"

// DefaultListen is the address bound when Config.Listen is zero: IPv4
// only, every interface, port 6784.
var DefaultListen = netip.AddrPortFrom(netip.IPv4Unspecified(), DefaultPort)

// Defaults of Config.
const (
	DefaultReceiveQueue     = 1024
	DefaultKeepAlive        = 5 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
	DefaultHandshakeTimeout = 5 * time.Second
	DefaultMaxBackoff       = 10 * time.Second
	DefaultBatchSize        = 64
	minBackoff              = 50 * time.Millisecond
)

// Config configures a Transport. The zero value of every field except
// Self means "the default", documented on the field.
type Config struct {
	// Self is this router's peer name. Required.
	Self frame.PeerName
	// Listen is the local UDP address of the one socket that both listens
	// and dials. If zero, defaults to 0.0.0.0:6784 (DefaultListen). Port 0
	// picks a free port (Open returns it).
	Listen netip.AddrPort
	// Certificate is this router's TLS identity; its leaf's SHA-256
	// (CertHash) is what the control plane announces to peers. If nil, New
	// generates an ephemeral Ed25519 certificate (GenerateCert); use
	// LoadOrCreateCert to keep one in the data directory.
	Certificate *tls.Certificate
	// ReceiveQueue is the capacity, in frames, of the queue between the
	// per-connection readers and the ReceiveFunc; frames arriving when it
	// is full are dropped (DropQueueFull). If zero, defaults to 1024.
	ReceiveQueue int
	// KeepAlive is the QUIC keep-alive period. If zero, defaults to 5 s.
	KeepAlive time.Duration
	// IdleTimeout closes a connection that heard nothing for that long
	// (then the dialing side reconnects). If zero, defaults to 30 s.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds a dial. If zero, defaults to 5 s.
	HandshakeTimeout time.Duration
	// MaxBackoff bounds the delay between dial attempts, which doubles
	// from 50 ms after each failure. If zero, defaults to 10 s.
	MaxBackoff time.Duration
	// UnderlayMTU caps the path MTU to every peer (the kernel's, read at
	// AddPeer and every PMTUInterval, may be lower). If zero, 1500.
	UnderlayMTU int
	// PMTUInterval is how often the path MTUs are read. If zero, 2 s.
	PMTUInterval time.Duration
	// Logger receives connection events (Info), path MTU resets (Warn)
	// and rate-limited refusals and dial failures (Warn). If nil, nothing
	// is logged.
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if !out.Listen.IsValid() {
		out.Listen = DefaultListen
	}
	if out.ReceiveQueue == 0 {
		out.ReceiveQueue = DefaultReceiveQueue
	}
	if out.KeepAlive == 0 {
		out.KeepAlive = DefaultKeepAlive
	}
	if out.IdleTimeout == 0 {
		out.IdleTimeout = DefaultIdleTimeout
	}
	if out.HandshakeTimeout == 0 {
		out.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if out.MaxBackoff == 0 {
		out.MaxBackoff = DefaultMaxBackoff
	}
	if out.UnderlayMTU == 0 {
		out.UnderlayMTU = 1500
	}
	if out.PMTUInterval == 0 {
		out.PMTUInterval = 2 * time.Second
	}
	return out
}

// Validate reports a configuration New would refuse.
func (c *Config) Validate() error {
	d := c.withDefaults()
	switch {
	case d.Self == frame.UnknownPeer:
		return errors.New("quic: Config.Self is required")
	case d.ReceiveQueue < 1:
		return errors.New("quic: Config.ReceiveQueue must be positive")
	case d.UnderlayMTU < 576:
		return errors.New("quic: Config.UnderlayMTU below 576")
	case d.KeepAlive < 0 || d.IdleTimeout < 0 || d.HandshakeTimeout < 0 || d.MaxBackoff < 0 || d.PMTUInterval < 0:
		return errors.New("quic: negative durations in Config")
	case d.Certificate != nil && len(d.Certificate.Certificate) == 0:
		return errors.New("quic: Config.Certificate has no leaf")
	}
	return nil
}
