// Command ws-peersim runs many peers in one process, for measuring what a
// router costs with a thousand of them (scripts/bench-peers.sh). Each is
// the project's own control plane and data path: a mesh (control
// connection, handshake, gossip, heartbeats) over a router whose bridge
// port carries no frames, with a sleeve transport on the peer's own
// address. So the router under test handles each as it would a host that
// runs nothing; the peers dial only it (no discovery), as hosts of a big
// mesh would dial their seeds. It is a test tool, built only by that
// script.
//
//	ws-peersim -router IP:PORT -first IP -n N [-password-file F] [-rate R]
//
// Peer i (0 ≤ i < N) has address first+i, where the caller has put it on
// an interface, and listens there on the router's port. Peers start R a
// second; the command prints how many have an established link to the
// router every 5 s, a line "all N established" once all have, and runs
// until it is sent SIGINT or SIGTERM.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/mesh"
	"github.com/weave-switch/weave-switch/router"
	"github.com/weave-switch/weave-switch/transport/sleeve"
)

// nameBase is the first simulated peer's name, less one.
const nameBase = frame.PeerName(0x02ee00000000)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ws-peersim:", err)
		os.Exit(1)
	}
}

func run() error {
	to := flag.String("router", "", "the router's control address IP:PORT")
	first := flag.String("first", "", "the first peer's address")
	n := flag.Int("n", 999, "peers")
	pwFile := flag.String("password-file", "", "the mesh's secret (none: an insecure mesh)")
	rate := flag.Int("rate", 25, "peers started a second")
	flag.Parse()
	target, err := netip.ParseAddrPort(*to)
	if err != nil {
		return fmt.Errorf("-router: %w", err)
	}
	addr, err := netip.ParseAddr(*first)
	if err != nil {
		return fmt.Errorf("-first: %w", err)
	}
	var password []byte
	if *pwFile != "" {
		b, err := os.ReadFile(*pwFile)
		if err != nil {
			return err
		}
		password = bytes.TrimRight(b, "\r\n")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	var peers []*peer
	defer func() {
		for _, p := range peers {
			p.close()
		}
	}()
	tick := time.NewTicker(time.Second / time.Duration(max(*rate, 1)))
	defer tick.Stop()
	for i := range *n {
		p, err := startPeer(nameBase+frame.PeerName(i+1), netip.AddrPortFrom(addr, target.Port()), target, password, log)
		if err != nil {
			return fmt.Errorf("peer %d at %v: %w", i, addr, err)
		}
		peers = append(peers, p)
		addr = addr.Next()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	report := time.NewTicker(5 * time.Second)
	defer report.Stop()
	all := false
	for {
		up := established(ctx, peers)
		fmt.Printf("%s: %d of %d peers established\n", time.Now().Format(time.TimeOnly), up, len(peers))
		if up == len(peers) && !all {
			all = true
			fmt.Printf("all %d established\n", len(peers))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-report.C:
		}
	}
}

// peer is one simulated peer.
type peer struct {
	sl *sleeve.Sleeve
	rt *router.Router
	m  *mesh.Mesh
}

func startPeer(name frame.PeerName, listen, target netip.AddrPort, password []byte, log *slog.Logger) (*peer, error) {
	l := log.With("peer", name.String())
	// Small buffers: a thousand of these share one process, and none
	// carries more than heartbeats.
	sl, err := sleeve.New(sleeve.Config{Self: name, Listen: listen, Encrypt: len(password) > 0, Logger: l,
		BatchSize: 2, SocketBuffer: 256 << 10})
	if err != nil {
		return nil, err
	}
	rt, err := router.New(router.Config{
		Self: name, Device: newNullDevice(), Transport: sl, Logger: l,
		FrameSize: frame.MaxFrameSize, BatchSize: 4, Workers: 1, MaxMACs: 64,
	})
	if err != nil {
		sl.Close()
		return nil, err
	}
	if _, err := rt.Start(); err != nil {
		return nil, err // Start closed the transport
	}
	m, err := mesh.New(mesh.Config{
		Self: name, Nickname: fmt.Sprintf("sim%d", name-nameBase), Password: password, Listen: listen,
		Peers: []string{target.String()}, NoDiscovery: true, NoPunch: true,
		Router: rt, Links: []mesh.Link{sleeve.NewLink(sl, listen.Port())}, MTU: 1376,
		Logger: l,
	})
	if err == nil {
		err = m.Start()
	}
	if err != nil {
		rt.Close()
		return nil, err
	}
	return &peer{sl: sl, rt: rt, m: m}, nil
}

func (p *peer) close() {
	p.m.Close()
	p.rt.Close()
}

// established counts the peers whose link to the router is established.
func established(ctx context.Context, peers []*peer) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 0
	sem := make(chan struct{}, 32)
	for _, p := range peers {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			for _, cs := range p.m.Status(c).Connections {
				if cs.State == "established" {
					mu.Lock()
					n++
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return n
}

// nullDevice is a bridge port that carries no frames: Read waits for
// Close, Write drops what it is given.
type nullDevice struct {
	closed chan struct{}
	once   sync.Once
}

func newNullDevice() *nullDevice { return &nullDevice{closed: make(chan struct{})} }

func (d *nullDevice) Read(*frame.Batch) (int, error) {
	<-d.closed
	return 0, net.ErrClosed
}

func (d *nullDevice) Write(_ *frame.Batch, idx []int) (int, error) {
	select {
	case <-d.closed:
		return 0, net.ErrClosed
	default:
		return len(idx), nil
	}
}

func (d *nullDevice) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}
