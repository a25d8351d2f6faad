package router

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/ratelimit"
	ethswitch "github.com/weave-switch/weave-switch/switch"
	"github.com/weave-switch/weave-switch/transport"
)

// Router forwards frames between the local Device and the peers. Its
// methods are safe for concurrent use.
type Router struct {
	cfg     Config
	sw      *ethswitch.Switch
	born    time.Time // the origin of mono, with its monotonic reading
	log     *slog.Logger
	errLog  *ratelimit.Logger // errors that can repeat per batch
	moveLog *ratelimit.Logger // peers' endpoints moving (learn.go)

	peers struct {
		sync.Mutex // serialises writers; readers use table
		table      atomic.Pointer[peerTable]
	}
	routes atomic.Pointer[routesBox] // nil: static full mesh

	counters struct {
		fromDevice, toDevice     atomic.Uint64
		noPeer, noRoute, badSend atomic.Uint64
		unknownSender            atomic.Uint64
		wrongSource, badGSO      atomic.Uint64
		offTree                  atomic.Uint64
		devErrors                atomic.Uint64
		rxQueueDrops             atomic.Uint64
		endpointMoves            atomic.Uint64
	}

	workers []chan deliveryJob // delivery workers' queues; nil: deliver inline
	pending atomic.Int32       // jobs queued or being written by the workers
	epoch   atomic.Uint64      // housekeeping periods since Start (batches.go)
	regions batchRegions       // of the batches, unmapped by Close

	hb       heartbeater
	fast     fastPath
	local    netip.AddrPort
	wg       sync.WaitGroup
	closing  chan struct{}
	closeErr error
	once     sync.Once
	fatal    chan error
}

// New validates cfg and builds a Router; Start runs it.
func New(cfg Config) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	sw, err := ethswitch.New(ethswitch.Config{
		Self:       c.Self,
		MaxEntries: c.MaxMACs,
		MaxAge:     c.MACMaxAge,
		Now:        time.Now, // ages only: Switch subtracts readings, on the monotonic clock
	})
	if err != nil {
		return nil, fmt.Errorf("router: %w", err)
	}
	log := ratelimit.OrDiscard(c.Logger)
	r := &Router{cfg: c, sw: sw, born: time.Now(), log: log, errLog: ratelimit.NewLogger(log, time.Second, 1),
		moveLog: ratelimit.NewLogger(log, time.Second, 5),
		closing: make(chan struct{}), fatal: make(chan error, 1)}
	r.peers.table.Store(newPeerTable(nil))
	return r, nil
}

// Start opens the transports and starts the router's goroutines. It
// returns the local address Config.Transport bound.
//
// It opens Config.Transport and then every Extra transport; if one fails,
// it closes all of them, opened or not (Close is idempotent, so their
// constructor may close them again), and returns the error. The devices
// stay open: Close closes them.
func (r *Router) Start() (netip.AddrPort, error) {
	var fns []transport.ReceiveFunc
	var owners []transport.Transport // owners[i] opened fns[i]
	var local netip.AddrPort
	all := append([]transport.Transport{r.cfg.Transport}, r.cfg.Extra...)
	for i, tr := range all {
		f, l, err := tr.Open()
		if err != nil {
			for _, t := range all {
				t.Close()
			}
			return netip.AddrPort{}, err
		}
		if i == 0 {
			local = l
		}
		fns = append(fns, f...)
		for range f {
			owners = append(owners, tr)
		}
	}
	r.local = local
	if n := r.cfg.Workers; n > 1 {
		r.workers = make([]chan deliveryJob, n)
		for w := range r.workers {
			r.workers[w] = make(chan deliveryJob, queueDepth)
			r.wg.Add(1)
			go r.routineDeliver(w, r.workers[w])
		}
	}
	r.wg.Add(2 + len(r.cfg.Queues) + len(fns))
	go r.routineReadDevice(0, r.cfg.Device)
	for i, q := range r.cfg.Queues {
		go r.routineReadDevice(i+1, q)
	}
	for i, fn := range fns {
		go r.routineReceive(i, fn, owners[i])
	}
	go r.routineHousekeeping()
	return local, nil
}

// Done is closed when the router stops on its own after a fatal error;
// Err then says why.
func (r *Router) Done() <-chan error { return r.fatal }

// Close stops the router: it closes the inputs (device, then transport) so
// every routine sees a closed error and exits, then waits for them. It is
// idempotent.
func (r *Router) Close() error {
	r.once.Do(func() {
		close(r.closing)
		err1 := r.cfg.Device.Close()
		for _, q := range r.cfg.Queues {
			err1 = errors.Join(err1, q.Close())
		}
		errs := []error{err1, r.cfg.Transport.Close()}
		for _, tr := range r.cfg.Extra {
			errs = append(errs, tr.Close())
		}
		r.wg.Wait()
		r.regions.free()
		r.closeErr = errors.Join(errs...)
	})
	return r.closeErr
}

func (r *Router) stopping() bool {
	select {
	case <-r.closing:
		return true
	default:
		return false
	}
}

func (r *Router) die(err error) {
	select {
	case r.fatal <- err:
	default:
	}
}

func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed)
}

const maxConsecutiveErrors = 100

func (r *Router) routineReadDevice(idx int, dev Device) {
	defer r.wg.Done()
	r.log.Debug("routineReadDevice started", "idx", idx)
	defer r.log.Debug("routineReadDevice stopped", "idx", idx)
	bs := r.cfg.BatchSize
	g := r.regions.newReadBatch(bs, r.cfg.FrameSize)
	b := g.b
	dec := make([]ethswitch.Decision, bs)
	d := newDispatcher(r, bs)
	pong := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
	errs := 0
	for {
		g.beforeRead(r.epoch.Load())
		n, err := dev.Read(b)
		if err != nil {
			if r.stopping() || isClosed(err) {
				return
			}
			r.counters.devErrors.Add(1)
			if errs++; errs > maxConsecutiveErrors {
				r.die(fmt.Errorf("reading the bridge port: %w", err))
				return
			}
			r.errLog.Log(slog.LevelError, "reading the bridge port failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		errs = 0
		g.afterRead(n, r.epoch.Load())
		b.N = n
		r.takeFastPings(b, pong)
		if n = b.N; n == 0 {
			continue
		}
		r.forwardFromDevice(b, dec[:n], d)
	}
}

// forwardFromDevice switches and sends one batch read from the device.
func (r *Router) forwardFromDevice(b *frame.Batch, dec []ethswitch.Decision, d *dispatcher) {
	r.counters.fromDevice.Add(uint64(b.N))
	r.sw.FromLocal(b, dec)
	d.dispatch(b, dec)
}

// routineReceive reads batches from fn, a ReceiveFunc of transport tr.
func (r *Router) routineReceive(idx int, fn transport.ReceiveFunc, tr transport.Transport) {
	defer r.wg.Done()
	r.log.Debug("routineReceive started", "idx", idx)
	defer r.log.Debug("routineReceive stopped", "idx", idx)
	bs := r.cfg.BatchSize
	workers := len(r.workers)
	pool := newRxPool(&r.regions, max(workers, 1), bs, r.cfg.FrameSize)
	rb := pool.get()
	dec := make([]ethswitch.Decision, bs)
	local := make([]int, 0, bs)
	d := newDispatcher(r, bs)
	pong := frame.NewBatchSize(1, transport.MaxOverhead, heartbeatLen)
	errs := 0
	for {
		b, eps := rb.b, rb.eps
		rb.g.beforeRead(r.epoch.Load())
		n, err := fn(b, eps)
		if err != nil {
			if r.stopping() || isClosed(err) {
				return
			}
			if errs++; errs > maxConsecutiveErrors {
				r.die(fmt.Errorf("receiving from peers: %w", err))
				return
			}
			r.errLog.Log(slog.LevelError, "receiving from peers failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		errs = 0
		rb.g.afterRead(n, r.epoch.Load())
		r.filterBatch(b, eps[:n], tr, pong)
		if n = b.N; n == 0 {
			continue
		}
		r.sw.FromPeer(b, dec[:n])
		local = local[:0]
		relay := false
		for i := range n {
			switch dec[i].Action {
			case ethswitch.Local:
				local = append(local, i)
				dec[i].Action = ethswitch.Drop
			case ethswitch.LocalAndFlood:
				// Deliver here and continue along the source's
				// broadcast tree (dispatch looks it up).
				local = append(local, i)
				dec[i].Action = ethswitch.Flood
				relay = true
			case ethswitch.Peer, ethswitch.Flood:
				// Flood: a flooded frame for a MAC on another peer
				// goes on along the tree but not into the bridge.
				relay = true
			}
		}
		if relay {
			d.dispatch(b, dec[:n])
		}
		if len(local) == 0 {
			continue
		}
		if workers == 0 || r.deliverInline(b, local) {
			if _, err := r.cfg.Device.Write(b, local); err != nil && !isClosed(err) {
				r.counters.devErrors.Add(1)
				r.errLog.Log(slog.LevelError, "writing to the bridge port failed", "err", err)
			}
			r.counters.toDevice.Add(uint64(len(local)))
			continue
		}
		for _, i := range local {
			w := int(flowHash(b.Frame(i)) % uint32(workers))
			rb.idx[w] = append(rb.idx[w], i)
		}
		if r.handOff(rb) {
			rb = pool.get()
		}
	}
}

func (r *Router) routineHousekeeping() {
	defer r.wg.Done()
	r.log.Debug("routineHousekeeping started")
	defer r.log.Debug("routineHousekeeping stopped")
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-r.closing:
			return
		case <-tick.C:
			r.sw.Expire()
			r.epoch.Add(1)
		}
	}
}
