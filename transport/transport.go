// Package transport defines the pluggable links that carry overlay frames
// between peers, and the errors they share. Implementations live in
// sub-packages: sleeve (UDP), wireguard, quic, and memory (in-process, for
// tests).
//
// # Lifecycle and ownership
//
// Every implementation has the same life:
//
//   - New checks its Config and builds the transport with no I/O: it binds
//     no socket and starts no goroutine. What needs the file system (keys,
//     certificates) is loaded before New and handed in through the Config.
//     Methods that announce the transport's identity (a public key, a
//     certificate hash) work right after New.
//   - Open binds the socket and starts the transport's goroutines. Once it
//     succeeded, Open fails; it also fails after Close.
//   - Close undoes exactly what Open did and returns when every goroutine
//     Open started has ended. It is idempotent and safe before Open, after
//     a failed Open, and concurrently with the ReceiveFuncs it unblocks.
//
// Methods that need a bound transport (Send, and peer management where a
// transport has it) either work before Open (peers added before Open are
// set up by Open) or fail with an error; none blocks waiting for Open.
//
// Whoever constructs a transport closes it. A component that runs a
// transport it was given (the router) also closes it, on its own Close and
// when its start fails, to unblock its receivers; since Close is
// idempotent, the constructor closing it again is harmless.
package transport

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
)

// A ReceiveFunc reads at least one frame into b: frame i goes to
// b.Bufs[i][b.Offset:], with b.Sizes[i], b.Meta[i] (Src, Dst and Via from
// the overlay header) and eps[i] (the underlay sender) set. It returns how
// many frames it filled (also stored in b.N). It reads at most
// min(b.Cap(), len(eps)) frames and blocks until at least one is there.
// After Close it returns an error that Is net.ErrClosed.
//
// Each ReceiveFunc is meant to be called from one goroutine at a time;
// different ReceiveFuncs of one Transport may run concurrently.
type ReceiveFunc func(b *frame.Batch, eps []Endpoint) (n int, err error)

// Transport carries batches of frames to and from peers.
type Transport interface {
	// Open binds the transport and returns its receive functions and the
	// local address actually bound.
	Open() (fns []ReceiveFunc, local netip.AddrPort, err error)
	// Send sends frames b.Bufs[:b.N] with their Meta (Src and Dst) to ep.
	// It may write into the headroom in front of each frame (b.Offset must
	// be at least MaxOverhead) but leaves the frames themselves intact.
	// The caller keeps ownership of b. Send is safe for concurrent use.
	Send(b *frame.Batch, ep Endpoint) error
	// ParseEndpoint parses HOST:PORT into an Endpoint of this transport.
	ParseEndpoint(s string) (Endpoint, error)
	// BatchSize is the largest useful batch; constant for the lifetime of
	// the Transport.
	BatchSize() int
	// Overhead is the number of bytes the transport adds to each frame on
	// an underlay link, IP and UDP headers included, for the worst case
	// of a datagram carrying one frame. The overlay MTU on an underlay of
	// MTU m is m - Overhead() - frame.EthernetHeaderSize.
	Overhead() int
	// Close releases the transport; it is idempotent and unblocks every
	// ReceiveFunc.
	Close() error
}

// Endpoint is the underlay address of a peer.
type Endpoint interface {
	DstAddrPort() netip.AddrPort
	String() string
}

// MaxOverhead is the headroom (in bytes) every Batch handed to a Transport
// must reserve in front of each frame; it covers the largest header any
// transport writes there.
const MaxOverhead = 64

// ErrClosed is returned by a closed transport. It Is net.ErrClosed.
var ErrClosed = fmt.Errorf("transport closed: %w", net.ErrClosed)

// ErrMalformed is wrapped by decoders for bytes that are not a valid
// message: truncated, bad length, unknown version.
var ErrMalformed = errors.New("malformed overlay datagram")

// OpError is the error a transport returns for a failed operation.
type OpError struct {
	Op        string // "send", "receive", "open"
	Transport string // "sleeve", "memory", ...
	Peer      string // endpoint, if any
	Err       error
}

func (e *OpError) Error() string {
	s := e.Transport + " " + e.Op
	if e.Peer != "" {
		s += " " + e.Peer
	}
	return s + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// AddrPortEndpoint is the Endpoint of transports addressed by IP:port.
type AddrPortEndpoint netip.AddrPort

// DstAddrPort implements Endpoint.DstAddrPort.
func (e AddrPortEndpoint) DstAddrPort() netip.AddrPort { return netip.AddrPort(e) }

func (e AddrPortEndpoint) String() string { return netip.AddrPort(e).String() }

// ParseListen reads a listen address: HOST:PORT, :PORT (every IPv4
// address) or HOST (port def). HOST is numeric.
func ParseListen(s string, def uint16) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if port, ok := strings.CutPrefix(s, ":"); ok {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("invalid port in %q", s)
		}
		return netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p)), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, def), nil
	}
	return netip.AddrPort{}, fmt.Errorf("%q is not HOST:PORT with a numeric host", s)
}
