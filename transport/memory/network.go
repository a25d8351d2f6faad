package memory

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/weave-switch/weave-switch/frame"
)

// DefaultQueueLen is the receive queue length of a new Transport, in frames.
const DefaultQueueLen = 1024

// Network is the in-process underlay that Transports attach to. It is safe
// for concurrent use. The zero value is not usable: call NewNetwork.
type Network struct {
	mu       sync.Mutex
	nodes    map[netip.AddrPort]*Transport // open transports by address
	cuts     map[link]struct{}
	loss     float64
	rng      *rand.Rand
	queueLen int
	nextPort uint16
}

// link is an unordered pair of addresses, a < b.
type link struct{ a, b netip.AddrPort }

func newLink(a, b netip.AddrPort) link {
	if b.Compare(a) < 0 {
		a, b = b, a
	}
	return link{a, b}
}

// NewNetwork returns an empty network with no loss, no cuts, a random
// source seeded with 1 and receive queues of DefaultQueueLen frames.
func NewNetwork() *Network {
	return &Network{
		nodes:    make(map[netip.AddrPort]*Transport),
		cuts:     make(map[link]struct{}),
		rng:      rand.New(rand.NewPCG(1, 1)),
		queueLen: DefaultQueueLen,
		nextPort: 40000,
	}
}

// SetSeed reseeds the source that SetLoss draws from.
func (n *Network) SetSeed(seed uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rng = rand.New(rand.NewPCG(seed, seed))
}

// SetLoss makes every frame sent from now on get lost with probability p,
// drawn from the seeded source. It panics if p is not in [0, 1].
func (n *Network) SetLoss(p float64) {
	if !(p >= 0 && p <= 1) {
		panic(fmt.Sprintf("memory: loss %v not in [0, 1]", p))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loss = p
}

// SetQueueLen sets the receive queue length, in frames, of Transports
// created from now on. It panics if l < 1.
func (n *Network) SetQueueLen(l int) {
	if l < 1 {
		panic(fmt.Sprintf("memory: queue length %d < 1", l))
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.queueLen = l
}

// Cut cuts the link between a and b in both directions: frames sent between
// them are dropped and counted in the sender's Stats.Cut.
func (n *Network) Cut(a, b netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cuts[newLink(a, b)] = struct{}{}
}

// Heal restores the link between a and b.
func (n *Network) Heal(a, b netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.cuts, newLink(a, b))
}

// HealAll restores every cut link.
func (n *Network) HealAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cuts)
}

// NewTransport returns a Transport for peer self that attaches to n at addr
// when opened. If addr's port is 0, Open picks a free port (from 40000 up);
// if addr's IP is unset too, it uses 127.0.0.1.
func (n *Network) NewTransport(self frame.PeerName, addr netip.AddrPort) *Transport {
	n.mu.Lock()
	ql := n.queueLen
	n.mu.Unlock()
	return newTransport(n, self, addr, ql)
}

// attach registers t, resolving a zero port.
func (n *Network) attach(t *Transport, addr netip.AddrPort) (netip.AddrPort, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ip := addr.Addr()
	if !ip.IsValid() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if addr.Port() == 0 {
		for range 1 << 16 {
			n.nextPort++
			if n.nextPort == 0 {
				n.nextPort = 1024
			}
			if _, used := n.nodes[netip.AddrPortFrom(ip, n.nextPort)]; !used {
				break
			}
		}
		addr = netip.AddrPortFrom(ip, n.nextPort)
	} else {
		addr = netip.AddrPortFrom(ip, addr.Port())
	}
	if _, used := n.nodes[addr]; used {
		return netip.AddrPort{}, fmt.Errorf("address %s already in use", addr)
	}
	n.nodes[addr] = t
	return addr, nil
}

func (n *Network) detach(addr netip.AddrPort, t *Transport) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.nodes[addr] == t {
		delete(n.nodes, addr)
	}
}
