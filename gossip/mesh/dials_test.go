package mesh

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestDialsBounded: a router given many targets at once dials at most
// maxDials of them at a time, and the others as those end. The targets
// are loopback addresses of a listener that accepts and never answers, so
// each dial waits in its handshake until the test closes it.
func TestDialsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var (
		mu       sync.Mutex
		accepted []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	open := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }

	const targets = 3 * maxDials
	var peers []string
	for i := range targets {
		peers = append(peers, fmt.Sprintf("127.0.%d.%d:%d", 1+i/250, 1+i%250, port))
	}
	n := startNode(t, 0x020000000001, "secret", true, peers...)
	defer n.m.Close()
	waitFor(t, "the first dials to arrive", func() bool { return open() >= maxDials })
	dialling := func() int {
		var d int
		if err := n.m.call(t.Context(), func() { d = n.m.dials }); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got, d := open(), dialling(); got != maxDials || d != maxDials {
		t.Fatalf("%d connections accepted, %d dials under way; want %d of %d targets at once", got, d, maxDials, targets)
	}
	// End the dials under way: the next ones start.
	for round := 1; round < targets/maxDials; round++ {
		mu.Lock()
		for _, c := range accepted {
			c.Close()
		}
		mu.Unlock()
		want := (round + 1) * maxDials
		waitFor(t, fmt.Sprintf("dials %d to %d", round*maxDials+1, want), func() bool { return open() >= want })
		if got := open(); got != want {
			t.Fatalf("round %d: %d connections accepted, want %d", round, got, want)
		}
	}
}

// TestDialFromListenAddress: a router listening on a specific address
// dials from it, so that peers see the address it announces; one
// listening on a wildcard leaves the source to the route.
func TestDialFromListenAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	from := make(chan netip.Addr, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			from <- c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
			c.Close()
		}
	}()
	for _, tc := range []struct {
		listen string
		want   netip.Addr
	}{
		{"127.0.0.7:0", netip.MustParseAddr("127.0.0.7")},
		{"0.0.0.0:0", netip.MustParseAddr("127.0.0.1")},
	} {
		n := startNodeAt(t, 0x020000000001, "secret", true, netip.MustParseAddrPort(tc.listen), ln.Addr().String())
		select {
		case got := <-from:
			if got != tc.want {
				t.Errorf("listening on %s: dialled from %v, want %v", tc.listen, got, tc.want)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("listening on %s: no dial in 15 s", tc.listen)
		}
		n.m.Close()
	}
	m := &Mesh{cfg: Config{Listen: netip.MustParseAddrPort("198.18.0.1:6783")}}
	for addr, want := range map[string]bool{
		"198.18.0.2:6783": true, "[2001:db8::1]:6783": false, "127.0.0.1:6783": false, "peer.example:6783": false,
	} {
		if got := m.dialFrom(addr) != nil; got != want {
			t.Errorf("listening on 198.18.0.1: dial to %s from the listen address %v, want %v", addr, got, want)
		}
	}
}
