package router

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// Device is the router's port on the local bridge.
type Device interface {
	// Read fills b with at least one frame captured from the bridge and
	// returns how many. It is called from one goroutine.
	Read(b *frame.Batch) (int, error)
	// Write injects the frames b.Frame(i), i in idx, with their
	// Meta[i].GSO into the bridge; safe for concurrent use. It may write
	// into the headroom in front of those frames. The router hands it
	// only descriptors frame.CheckGSO accepted for their frame.
	Write(b *frame.Batch, idx []int) (int, error)
	Close() error
}

// Config configures a Router.
type Config struct {
	// Self is this router's peer name. Required.
	Self frame.PeerName
	// Nickname is a human name shown in status. If empty, defaults to
	// the peer name.
	Nickname string
	// Device is the local bridge port. Required.
	Device Device
	// Queues are further read queues of the same device (a multi-queue
	// TAP): each gets its own reader, so the work of one router spreads
	// over the cores; the kernel keeps each flow on one queue, so flows
	// stay in order. Writes go to Device. The Router closes them.
	Queues []Device
	// Transport carries frames to other peers. Required; the Router
	// opens it in Start and closes it in Close, or in Start if Start
	// fails.
	Transport transport.Transport
	// Extra are further transports (a link may use another transport than
	// the default: link.Peer.Transport). The Router opens and closes them
	// as it does Transport, and receives from all of them.
	Extra []transport.Transport
	// FrameSize is the largest frame the data path carries: the size of
	// every batch buffer. If zero, defaults to frame.MaxFrameSize; a
	// Device with offloads needs frame.MaxSuperFrameSize.
	FrameSize int
	// BatchSize is the number of frames per batch. If zero, defaults to
	// the transport's BatchSize, at most 64 when FrameSize is above
	// frame.MaxFrameSize (64 super-frame buffers are 4 MiB).
	BatchSize int
	// Workers is the number of delivery workers that write received frames
	// into the Device, chosen per flow (see deliver.go). 0 means
	// defaultWorkers: none on 2 CPUs, half the CPUs from 4 on, at most 4;
	// 1 writes from the receiving goroutine itself.
	Workers int
	// MaxMACs bounds the MAC table. If zero, defaults to the switch's
	// default.
	MaxMACs int
	// MACMaxAge is how long an idle MAC stays learned. If zero, defaults
	// to the switch's default (10 minutes).
	MACMaxAge time.Duration
	// IdleHeartbeat paces the data-path pings on idle, healthy links:
	// SendHeartbeats pings a neighbour whose last ping was answered and
	// whose link carried no data frame either way since that ping only
	// if the ping is at least this old. Other links (never pinged, last
	// ping unanswered, traffic flowing) are pinged on every call. It is
	// also the longest an idle link stays silent, which holds the NAT
	// mappings on its way. If zero, defaults to 10 s. Negative: every
	// call pings every neighbour.
	IdleHeartbeat time.Duration
	// Logger receives the routines' start and stop (Debug) and device
	// and receive errors (Error, at most one a second). If nil, nothing is
	// logged.
	Logger *slog.Logger
	// Now is the wall clock the router reports times on (LinkHealth,
	// FastLinks, Peers). If nil, time.Now. What the router measures
	// (heartbeat round trips, how long a neighbour has been silent, MAC
	// ages) it measures on the process's monotonic clock, which no step
	// of the wall clock moves.
	Now func() time.Time
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Nickname == "" {
		out.Nickname = out.Self.String()
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.FrameSize == 0 {
		out.FrameSize = frame.MaxFrameSize
	}
	if out.IdleHeartbeat == 0 {
		out.IdleHeartbeat = defaultIdleHeartbeat
	}
	if out.Workers == 0 {
		out.Workers = defaultWorkers(runtime.GOMAXPROCS(0))
	}
	if out.BatchSize == 0 && out.Transport != nil {
		out.BatchSize = out.Transport.BatchSize()
		if out.FrameSize > frame.MaxFrameSize && out.BatchSize > 64 {
			out.BatchSize = 64
		}
	}
	return out
}

// Validate reports what is wrong with c, if anything.
func (c *Config) Validate() error {
	var errs []error
	if c.Self == frame.UnknownPeer {
		errs = append(errs, errors.New("router: no peer name"))
	}
	if c.Device == nil {
		errs = append(errs, errors.New("router: no device"))
	}
	if c.Transport == nil {
		errs = append(errs, errors.New("router: no transport"))
	}
	if c.FrameSize != 0 && (c.FrameSize < frame.EthernetHeaderSize || c.FrameSize > frame.MaxSuperFrameSize) {
		errs = append(errs, fmt.Errorf("router: FrameSize %d outside %d..%d", c.FrameSize, frame.EthernetHeaderSize, frame.MaxSuperFrameSize))
	}
	if c.BatchSize < 0 {
		errs = append(errs, fmt.Errorf("router: BatchSize %d is negative", c.BatchSize))
	}
	if c.MaxMACs < 0 {
		errs = append(errs, fmt.Errorf("router: MaxMACs %d is negative", c.MaxMACs))
	}
	return errors.Join(errs...)
}

// defaultWorkers is the default number of delivery workers for procs
// CPUs. Below 4 CPUs the cores are already busy with the kernel's side of
// the traffic (both ends' TCP stacks, the TAP and the UDP socket), and a
// hand-off per batch costs more than it gives (the bench measures a TCP
// stream a quarter slower with two workers on 2 CPUs), so the receiving
// goroutine writes itself (1); from 4 CPUs on half of them take the TAP
// writes.
func defaultWorkers(procs int) int {
	if procs < 4 {
		return 1
	}
	return min(procs/2, 4)
}
