package vxlan

import (
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
)

// TestFence puts the vxlan backend behind the fast-path fence in one
// namespace and sends vxlan datagrams to it from another: those from the
// peer's underlay address reach the vxlan device (and so the bridge),
// those from any other address are dropped and counted.
func TestFence(t *testing.T) {
	requireRoot(t)
	ns, peer := newNS(t), newNS(t)
	run(t, ns, "ip", "link", "add", "u0", "type", "veth", "peer", "name", "u0", "netns", peer)
	run(t, ns, "ip", "addr", "add", "192.168.78.1/24", "dev", "u0")
	run(t, peer, "ip", "addr", "add", "192.168.78.2/24", "dev", "u0")
	run(t, peer, "ip", "addr", "add", "192.168.78.9/24", "dev", "u0")
	for _, n := range []string{ns, peer} {
		run(t, n, "ip", "link", "set", "u0", "up")
	}
	run(t, ns, "ip", "link", "add", "br0", "type", "bridge")
	run(t, ns, "ip", "link", "set", "br0", "up")
	run(t, ns, "ip", "link", "add", "tp0", "master", "br0", "type", "veth", "peer", "name", "tp1")
	run(t, ns, "ip", "link", "set", "tp0", "up")
	run(t, ns, "ip", "link", "set", "tp1", "up")

	fence := &kernel.NFTFence{Table: kernel.FenceTable("br0"), Port: kernel.DefaultPort, Command: []string{"ip", "netns", "exec", ns, "nft"}}
	if err := fence.Start(); err != nil {
		t.Fatal(err)
	}
	defer fence.Close()
	var dp *Datapath
	inNS(t, ns, func() {
		var err error
		dp, err = New(kernel.Env{Self: 1, Bridge: "br0", TAP: "tp0", MTU: 1400, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			panic(err)
		}
	})
	defer inNS(t, ns, func() { dp.Close() })
	peerAddr := netip.MustParseAddr("192.168.78.2")
	if err := fence.Allow([]netip.Addr{peerAddr}); err != nil {
		t.Fatal(err)
	}

	rx := func() int {
		n, err := strconv.Atoi(strings.TrimSpace(run(t, ns, "cat", "/sys/class/net/br0-vx/statistics/rx_packets")))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A vxlan datagram carrying a broadcast ARP-typed frame.
	dgram := make([]byte, 8+frame.EthernetHeaderSize+46)
	dgram[0] = 0x08
	binary.BigEndian.PutUint32(dgram[4:], kernel.DefaultVNI<<8)
	eth := dgram[8:]
	copy(eth[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(eth[6:12], []byte{0x02, 0xee, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(eth[12:], 0x0806)
	send := func(from string, n int) {
		inNS(t, peer, func() {
			c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP(from)}, &net.UDPAddr{IP: net.ParseIP("192.168.78.1"), Port: kernel.DefaultPort})
			if err != nil {
				panic(err)
			}
			defer c.Close()
			for range n {
				if _, err := c.Write(dgram); err != nil {
					panic(err)
				}
			}
		})
	}
	// wait polls until rx reaches want or 2 s pass.
	wait := func(want int) int {
		deadline := time.Now().Add(2 * time.Second)
		for {
			n := rx()
			if n >= want || time.Now().After(deadline) {
				return n
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	before := rx()
	send("192.168.78.9", 5)
	time.Sleep(200 * time.Millisecond)
	if n := rx(); n != before {
		t.Errorf("datagrams from a non-peer reached the vxlan device: rx %d -> %d", before, n)
	}
	if d, err := fence.Dropped(); err != nil || d != 5 {
		t.Errorf("fence dropped %d, %v; want 5", d, err)
	}
	send("192.168.78.2", 3)
	if n := wait(before + 3); n != before+3 {
		t.Errorf("datagrams from the peer: rx %d -> %d, want +3", before, n)
	}
	if d, _ := fence.Dropped(); d != 5 {
		t.Errorf("fence dropped %d after the peer's datagrams, want 5", d)
	}

	// An empty list shuts the port; a table someone removed comes back.
	if err := fence.Allow(nil); err != nil {
		t.Fatal(err)
	}
	send("192.168.78.2", 1)
	if d, _ := fence.Dropped(); d != 6 {
		t.Errorf("no peers: fence dropped %d, want 6", d)
	}
	run(t, ns, "nft", "delete", "table", "inet", kernel.FenceTable("br0"))
	if err := fence.Allow([]netip.Addr{peerAddr}); err != nil {
		t.Fatal(err)
	}
	if out := run(t, ns, "nft", "list", "set", "inet", kernel.FenceTable("br0"), "fastpath-peers"); !strings.Contains(out, "192.168.78.2") {
		t.Errorf("the fence was not put back:\n%s", out)
	}

	if err := fence.Close(); err != nil {
		t.Fatal(err)
	}
	if out := run(t, ns, "nft", "list", "tables"); strings.Contains(out, "weave-switch") {
		t.Errorf("tables left after Close:\n%s", out)
	}
}
