package dns

import (
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

// fakeBridge is a bridge whose addresses the test sets.
type fakeBridge struct {
	mu    sync.Mutex
	addrs []netip.Prefix
}

func (f *fakeBridge) set(ps ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = nil
	for _, p := range ps {
		f.addrs = append(f.addrs, netip.MustParsePrefix(p))
	}
}

func (f *fakeBridge) list(string) ([]netip.Prefix, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.addrs), nil
}

// freePort is a port free on UDP and TCP of 127.0.0.1 when asked.
func freePort(t *testing.T) uint16 {
	t.Helper()
	pc, ln, err := listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	ln.Close()
	return uint16(port)
}

// waitServing waits until s serves exactly want.
func waitServing(t *testing.T, s *Service, want ...netip.AddrPort) {
	t.Helper()
	for !slices.Equal(s.Serving(), want) {
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBridgeAddressesFollowed(t *testing.T) {
	leakcheck.Check(t)
	br := &fakeBridge{}
	port := freePort(t)
	s, err := New(Config{Self: peerA, Bridge: "br-test", BridgePort: port, BridgeAddrs: br.list, ResolvConf: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Serving(); len(got) != 0 {
		t.Fatalf("serving %v with no bridge address", got)
	}
	if st := s.DNSStatus(); len(st.Serving) != 0 || st.Listen == "" {
		t.Fatalf("status %+v", st)
	}
	if err := s.Register("k1", "web", []netip.Addr{netip.MustParseAddr("10.32.1.1")}); err != nil {
		t.Fatal(err)
	}

	a1 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
	a2 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port)
	br.set("127.0.0.1/8", "fe80::1/64", "2001:db8::1/64")
	waitServing(t, s, a1)
	br.set("127.0.0.1/8", "127.0.0.2/8")
	waitServing(t, s, a1, a2)
	for _, ap := range []netip.AddrPort{a1, a2} {
		for _, proto := range []string{"udp", "tcp"} {
			if got := answerAddrs(query(t, proto, ap.String(), "web.weave.local.", mdns.TypeA, 0)); len(got) != 1 {
				t.Fatalf("%s %s: %v", proto, ap, got)
			}
		}
	}
	if st := s.DNSStatus(); !slices.Equal(st.Serving, []string{a1.String(), a2.String()}) {
		t.Fatalf("status serving %v", st.Serving)
	}
	br.set("127.0.0.2/8")
	waitServing(t, s, a2)
	if _, err := net.DialTimeout("tcp", a1.String(), time.Second); err == nil {
		t.Fatalf("%s still served", a1)
	}
	br.set()
	waitServing(t, s)
}

func TestBridgeBindFailureRetried(t *testing.T) {
	leakcheck.Check(t)
	br := &fakeBridge{}
	// Someone else holds the port on 127.0.0.3: the service logs and
	// tries again until it is free.
	port := freePort(t)
	other, err := net.ListenPacket("udp", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), port).String())
	if err != nil {
		t.Fatal(err)
	}
	br.set("127.0.0.3/8")
	s, err := New(Config{Self: peerA, Bridge: "br-test", BridgePort: port, BridgeAddrs: br.list, ResolvConf: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Serving(); len(got) != 0 {
		t.Fatalf("serving %v on a port in use", got)
	}
	other.Close()
	waitServing(t, s, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), port))
}

func TestNameserverInTheContainersSubnet(t *testing.T) {
	br := &fakeBridge{}
	s, err := New(Config{Self: peerA, Bridge: "br-test", BridgeAddrs: br.list})
	if err != nil {
		t.Fatal(err)
	}
	addrs := func(as ...string) []netip.Addr {
		var out []netip.Addr
		for _, a := range as {
			out = append(out, netip.MustParseAddr(a))
		}
		return out
	}
	if _, _, ok := s.Nameserver(addrs("10.32.1.1")); ok {
		t.Fatal("a nameserver with no bridge address")
	}
	br.set("10.32.0.1/12", "10.40.0.1/24", "fd00::1/64")
	for _, c := range []struct {
		addrs []netip.Addr
		want  string
	}{
		{addrs("10.32.1.1"), "10.32.0.1"},
		{addrs("10.40.0.9"), "10.40.0.1"},
		{addrs("192.168.1.1", "10.40.0.9"), "10.40.0.1"},
		{addrs("192.168.1.1"), ""},
		{addrs("fd00::9"), ""},
		{nil, ""},
	} {
		ns, search, ok := s.Nameserver(c.addrs)
		if c.want == "" {
			if ok {
				t.Errorf("%v: nameserver %s, want none", c.addrs, ns)
			}
			continue
		}
		if !ok || ns.String() != c.want || search != "weave.local" {
			t.Errorf("%v: %s %q %v, want %s", c.addrs, ns, search, ok, c.want)
		}
	}
	// An explicit listen address is the nameserver whatever the
	// container's addresses, when on port 53.
	e, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("10.32.0.251:53")})
	if err != nil {
		t.Fatal(err)
	}
	e.addr.Store(&e.cfg.Listen)
	if ns, _, ok := e.Nameserver(addrs("192.168.1.1")); !ok || ns.String() != "10.32.0.251" {
		t.Errorf("explicit: %s %v", ns, ok)
	}
	if _, err := New(Config{Self: peerA}); err == nil {
		t.Error("New took neither a listen address nor a bridge")
	}
}
