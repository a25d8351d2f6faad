package mesh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// maxChannel is the smallest CRDT: a max register of a uint64.
type maxChannel struct {
	mu      sync.Mutex
	v       uint64
	merges  int
	updated chan struct{}
}

func newMaxChannel(v uint64) *maxChannel { return &maxChannel{v: v, updated: make(chan struct{}, 1)} }

func (c *maxChannel) GossipState() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.v == 0 {
		return nil
	}
	return binary.BigEndian.AppendUint64(nil, c.v)
}

func (c *maxChannel) GossipMerge(_ frame.PeerName, b []byte) error {
	if len(b) != 8 {
		return errors.New("bad length")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.merges++
	if v := binary.BigEndian.Uint64(b); v > c.v {
		c.v = v
		c.signal()
	}
	return nil
}

func (c *maxChannel) signal() {
	select {
	case c.updated <- struct{}{}:
	default:
	}
}

func (c *maxChannel) GossipUpdated() <-chan struct{} { return c.updated }

func (c *maxChannel) set(v uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.v = v
	c.signal()
}

func (c *maxChannel) get() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.v
}

func startChannelNode(t *testing.T, name frame.PeerName, ch Channel, peers ...string) *node {
	t.Helper()
	rt := newFakeRouter()
	tr := &keyedTransport{Transport: memory.NewNetwork().NewTransport(name, netip.MustParseAddrPort("127.0.0.1:1")),
		keys: map[frame.PeerName][2][32]byte{}}
	m, err := New(Config{
		Self: name, Nickname: fmt.Sprintf("n%d", name&0xff),
		Listen: netip.MustParseAddrPort("127.0.0.1:0"), Peers: peers, NoDiscovery: true,
		Router: rt, Links: []Link{sleeveLink(tr, false)}, MTU: 1426, HeartbeatInterval: 50 * time.Millisecond,
		Channels: map[uint8]Channel{7: ch},
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	return &node{m: m, rt: rt, tr: tr}
}

// A channel's state reaches peers that are not neighbours (a chain
// a-b-c), on connect and on change, and the flood stops where states
// agree.
func TestChannelFloods(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	ca, cb, cc := newMaxChannel(5), newMaxChannel(0), newMaxChannel(0)
	a := startChannelNode(t, 0x020000000001, ca)
	b := startChannelNode(t, 0x020000000002, cb, a.addr())
	c := startChannelNode(t, 0x020000000003, cc, b.addr())
	defer func() {
		for _, n := range []*node{a, b} {
			n.m.Close()
		}
	}()
	waitFor(t, "the state from a to reach c through b", func() bool { return cc.get() == 5 })
	cc.set(9)
	waitFor(t, "c's change to reach a", func() bool { return ca.get() == 9 && cb.get() == 9 })
	// Quiet now: only the periodic refresh (every 10 s) sends more.
	ca.mu.Lock()
	before := ca.merges
	ca.mu.Unlock()
	time.Sleep(500 * time.Millisecond)
	ca.mu.Lock()
	after := ca.merges
	ca.mu.Unlock()
	if after-before > 2 {
		t.Errorf("a merged %d states in 500 ms after the states agreed; the flood should have stopped", after-before)
	}
	// c is alive to a (through b); once it stops, it is not.
	waitFor(t, "a to see c alive", func() bool { return a.m.Alive(0x020000000003) })
	c.m.Close()
	waitFor(t, "a to see c gone", func() bool { return !a.m.Alive(0x020000000003) && !a.m.Reachable(0x020000000003) })
}

// FuzzDecodeChannelSums: the decoder of a neighbour's channel sums never
// panics, refuses what is not whole entries, and what it accepts encodes
// back to the same bytes.
func FuzzDecodeChannelSums(f *testing.F) {
	f.Add(appendChannelSums(nil, []channelSumItem{{7, 0x0102030405060708}, {9, 1}}))
	f.Add([]byte{})
	f.Add([]byte{7, 1, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeChannelSums(b)
		if (err != nil) != (len(b)%channelSumSize != 0) {
			t.Fatalf("%d bytes: err %v", len(b), err)
		}
		if err != nil {
			return
		}
		if re := appendChannelSums(nil, got); !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x, from %x", re, b)
		}
	})
}
