package sleeve

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
)

// Config configures a Sleeve. The zero value of every field except Self
// means "the default", documented on the field.
type Config struct {
	// Self is this router's peer name, written as the sender of every
	// datagram. Required.
	Self frame.PeerName
	// Listen is the local UDP address to bind. If zero, defaults to
	// 0.0.0.0:6783 (IPv4 only, like Weave). An IPv6 address such as [::]:6783
	// binds a dual-stack socket that also reaches IPv4 peers. Port 0 picks a
	// free port (Open returns it).
	Listen netip.AddrPort
	// UnderlayMTU is the MTU of the underlay path, used to decide how many
	// frames fit in one datagram: a datagram never exceeds UnderlayMTU-28
	// bytes (UnderlayMTU-48 to an IPv6 peer), nor MaxDatagramSize; a frame
	// too big for that is cut into sleeve fragments, never left to IP
	// fragmentation. If zero, defaults to 1500. Must be in [576, 65535].
	UnderlayMTU int
	// SocketBuffer is the size in bytes requested for SO_RCVBUF and
	// SO_SNDBUF; on Linux SO_RCVBUFFORCE/SO_SNDBUFFORCE are tried first
	// (they need CAP_NET_ADMIN) and the plain options are the silent
	// fallback, capped by net.core.[rw]mem_max. If zero, defaults to 4 MiB.
	// Negative leaves the kernel defaults.
	SocketBuffer int
	// BatchSize is the number of frames per Send and of datagrams per
	// recvmmsg. If zero, defaults to 128 on Linux, 1 elsewhere. Must be in
	// [1, 1024].
	BatchSize int
	// Encrypt makes the Sleeve send only encrypted datagrams (AES-256-GCM
	// or ChaCha20-Poly1305 under per-peer keys, see SetKeys and Cipher;
	// Send to an address without a key fails with ErrNoKey) and drop,
	// counting them, every plaintext datagram it receives (DropPlaintext)
	// and every encrypted one from a sender it has no key for (DropNoKey).
	// It adds EncryptionOverhead (24) bytes to each datagram, and to
	// Overhead. If false (the default), datagrams are sent in plaintext;
	// encrypted ones are still opened when SetKeys gave a key for their
	// sender.
	Encrypt bool
	// Cipher is what an encrypting Sleeve accepts on its links (see
	// NegotiateCipher and CapCiphers): CipherAuto, the zero value and
	// default, accepts AES-256-GCM, preferred, and ChaCha20-Poly1305 when
	// the host has hardware AES (HasHardwareAES), ChaCha20-Poly1305 only
	// when it has not; so a link uses AES-256-GCM when both ends have
	// hardware AES. An explicit cipher is the only one accepted: a peer
	// that does not accept it gets no link (Link.Add fails, naming both
	// ends' ciphers). Unused without Encrypt.
	Cipher Cipher
	// NoHardwareAES makes the Sleeve choose ciphers as on a host without
	// hardware AES, whatever the CPU has: tests simulate such a peer with
	// it. False (the default) asks the CPU.
	NoHardwareAES bool
	// Logger receives rate-limited reports of malformed datagrams
	// (Debug), socket errors and the UDP GSO fallback (Error). If nil,
	// nothing is logged.
	Logger *slog.Logger

	// Debug knobs for tests (also set by WEAVE_DEBUG_SLEEVE_NO_GSO=1 and
	// WEAVE_DEBUG_SLEEVE_NO_GRO=1): do not use UDP GSO, UDP GRO.
	noGSO, noGRO bool
}

// Defaults and limits of Config.
const (
	DefaultUnderlayMTU  = 1500
	DefaultSocketBuffer = 4 << 20
	MinUnderlayMTU      = 576
	MaxUnderlayMTU      = 65535
	MaxBatchSize        = 1024
)

// DefaultListen is the address bound when Config.Listen is zero.
var DefaultListen = netip.AddrPortFrom(netip.IPv4Unspecified(), DefaultPort)

// withDefaults returns a copy of c with every zero field set to its
// default. It is nil-safe.
func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if !out.Listen.IsValid() {
		out.Listen = DefaultListen
	}
	if out.UnderlayMTU == 0 {
		out.UnderlayMTU = DefaultUnderlayMTU
	}
	if out.SocketBuffer == 0 {
		out.SocketBuffer = DefaultSocketBuffer
	}
	if out.BatchSize == 0 {
		out.BatchSize = udpbatch.DefaultBatchSize
	}
	return out
}

// Validate reports the first invalid field of c, if any. Zero fields are
// valid (they mean the default), except Self.
func (c *Config) Validate() error {
	if c == nil {
		return errors.New("sleeve: nil config")
	}
	if c.Self == frame.UnknownPeer {
		return errors.New("sleeve: Config.Self is required")
	}
	if c.Self>>48 != 0 {
		return fmt.Errorf("sleeve: Config.Self %#x does not fit in 48 bits", uint64(c.Self))
	}
	if c.UnderlayMTU != 0 && (c.UnderlayMTU < MinUnderlayMTU || c.UnderlayMTU > MaxUnderlayMTU) {
		return fmt.Errorf("sleeve: Config.UnderlayMTU %d out of range [%d, %d]", c.UnderlayMTU, MinUnderlayMTU, MaxUnderlayMTU)
	}
	if c.Cipher != CipherAuto && !c.Cipher.valid() {
		return fmt.Errorf("sleeve: Config.Cipher %v is not a cipher", c.Cipher)
	}
	if c.BatchSize < 0 || c.BatchSize > MaxBatchSize {
		return fmt.Errorf("sleeve: Config.BatchSize %d out of range [1, %d]", c.BatchSize, MaxBatchSize)
	}
	return nil
}

// Clone returns a copy of c. It is nil-safe.
func (c *Config) Clone() *Config {
	if c == nil {
		return nil
	}
	out := *c
	return &out
}
