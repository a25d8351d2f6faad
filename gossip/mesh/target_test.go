package mesh

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/topology"
	"github.com/weave-switch/weave-switch/transport/memory"
)

// TestDiscoveredTargetsBounded: gossip naming more peers than
// maxDiscovered gives at most maxDiscovered dial targets, and the targets
// go when their peers leave the topology; static targets stay.
func TestDiscoveredTargetsBounded(t *testing.T) {
	const self = frame.PeerName(0x020000000001)
	tr := memory.NewNetwork().NewTransport(self, netip.MustParseAddrPort("127.0.0.1:1"))
	m, err := New(Config{
		Self: self, Listen: netip.MustParseAddrPort("127.0.0.1:6783"),
		Router: newFakeRouter(), Links: []Link{sleeveLink(tr, false)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	m.addTarget("192.0.2.1", true)
	const n = 2 * maxDiscovered
	var es []topology.Entry
	for i := range n {
		name := frame.PeerName(0x030000000000 + i)
		next := frame.PeerName(0x030000000000 + (i+1)%n)
		es = append(es, topology.Entry{
			Name: name, UID: uint64(i + 1), Incarnation: 1, Version: 1,
			Caps:  map[string]string{CapControlPort: "6783"},
			Conns: []topology.Conn{{Peer: next, Addr: fmt.Sprintf("10.%d.%d.1:40000", i>>8, i&0xff), Established: true}},
		})
	}
	if changed, _ := m.topo.Merge(es); len(changed) != n {
		t.Fatalf("%d entries merged, want %d", len(changed), n)
	}
	m.learnTargets()
	discovered := 0
	for _, tg := range m.targets {
		if !tg.static {
			discovered++
		}
	}
	if discovered != maxDiscovered || len(m.targets) != maxDiscovered+1 {
		t.Fatalf("%d discovered targets of %d, want %d and the static one", discovered, len(m.targets), maxDiscovered)
	}
	for _, e := range es {
		m.topo.Forget(e.Name)
	}
	m.learnTargets()
	if len(m.targets) != 1 || m.targets["192.0.2.1:6783"] == nil {
		t.Errorf("targets after the peers left: %d, want only the static one", len(m.targets))
	}
}

// TestUnreachableTargetBacksOff: a discovered target whose peer is alive
// (another router holds a connection to it) but whose dials keep failing
// is not reachable from here (behind NAT): after unreachableAfter
// failures it is tried only every unreachableBackoff, and status says
// why. A static target, or one whose peer shows no sign of life, keeps
// the ordinary backoff.
func TestUnreachableTargetBacksOff(t *testing.T) {
	const self, natted, gone = frame.PeerName(0x020000000001), frame.PeerName(0x020000000003), frame.PeerName(0x020000000004)
	now := time.Unix(1_000_000, 0)
	tr := memory.NewNetwork().NewTransport(self, netip.MustParseAddrPort("127.0.0.1:1"))
	m, err := New(Config{
		Self: self, Listen: netip.MustParseAddrPort("127.0.0.1:6783"),
		Router: newFakeRouter(), Links: []Link{sleeveLink(tr, false)},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:    func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.alive.Store(&map[frame.PeerName]bool{natted: true})
	nat := m.addTarget("203.0.113.20", false)
	nat.learnedAs = natted
	down := m.addTarget("203.0.113.40", false)
	down.learnedAs = gone
	static := m.addTarget("203.0.113.30", true)
	static.learnedAs = natted
	for range unreachableAfter {
		for _, tg := range []*target{nat, down, static} {
			tg.fail(m, "i/o timeout", false)
		}
	}
	if nat.state != "backoff" || nat.nextTry.Sub(now) < unreachableBackoff/2 || !strings.Contains(nat.reason, "NAT") {
		t.Errorf("target of a live peer: state %q, next try in %v, reason %q; want backoff for about %v", nat.state, nat.nextTry.Sub(now), nat.reason, unreachableBackoff)
	}
	for _, tg := range []*target{down, static} {
		if tg.state != "retrying" || tg.nextTry.Sub(now) > maxBackoff*3/2 {
			t.Errorf("target %s: state %q, next try in %v; want retrying within %v", tg.addr, tg.state, tg.nextTry.Sub(now), maxBackoff)
		}
	}
	found := false
	m.publishStatus()
	for _, c := range m.status.snap.Connections {
		if c.Address == nat.addr && c.State == "backoff" && !c.NextTry.IsZero() {
			found = true
		}
	}
	if !found {
		t.Error("status does not show the backed-off target")
	}
}
