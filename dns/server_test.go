package dns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

// upstream is a resolver the test runs on loopback: it answers every A
// query for *.example.test with 192.0.2.1, and big.example.test with 60
// addresses (truncated over UDP without EDNS).
type upstream struct {
	udp, tcp *mdns.Server
	addr     string
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		n := 1
		if q.Name == "big.example.test." {
			n = 60
		}
		for i := range n {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, byte(i+1))})
		}
		if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
			m.Truncate(mdns.MinMsgSize)
		}
		_ = w.WriteMsg(m)
	})
	pc, ln, err := listen(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{udp: &mdns.Server{PacketConn: pc, Handler: h}, tcp: &mdns.Server{Listener: ln, Handler: h},
		addr: pc.LocalAddr().String()}
	for _, srv := range []*mdns.Server{u.udp, u.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	t.Cleanup(func() { _ = u.udp.Shutdown(); _ = u.tcp.Shutdown() })
	return u
}

func startService(t testing.TB, up string) *Service {
	t.Helper()
	rc := filepath.Join(t.TempDir(), "resolv.conf")
	host, port, _ := net.SplitHostPort(up)
	if err := os.WriteFile(rc, fmt.Appendf(nil, "nameserver %s\n", host), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("127.0.0.1:0"), ResolvConf: rc, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// resolv.conf has no port: point the upstream at the test's.
	s.SetUpstreams([]string{net.JoinHostPort(host, port)})
	return s
}

func query(t *testing.T, netw, server, name string, qt uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qt)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: netw, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		t.Fatalf("%s %s %s: %v", netw, name, mdns.TypeToString[qt], err)
	}
	return r
}

func answerAddrs(m *mdns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		switch a := rr.(type) {
		case *mdns.A:
			out = append(out, a.A.String())
		case *mdns.AAAA:
			out = append(out, a.AAAA.String())
		case *mdns.PTR:
			out = append(out, a.Ptr)
		}
	}
	return out
}

func TestServerAnswers(t *testing.T) {
	leakcheck.Check(t)
	up := startUpstream(t)
	s := startService(t, up.addr)
	srv := s.Addr().String()
	if err := s.Register("/run/netns/c1", "web", []netip.Addr{netip.MustParseAddr("10.32.0.1"), netip.MustParseAddr("fd00::1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("/run/netns/c2", "web.weave.local", []netip.Addr{netip.MustParseAddr("10.32.0.2")}); err != nil {
		t.Fatal(err)
	}

	r := query(t, "udp", srv, "web.weave.local.", mdns.TypeA, 0)
	if got := answerAddrs(r); !slices.Equal(sorted(got), []string{"10.32.0.1", "10.32.0.2"}) || !r.Authoritative || r.Answer[0].Header().Ttl != 1 {
		t.Fatalf("A web = %v (aa %v)", got, r.Authoritative)
	}
	if got := answerAddrs(query(t, "tcp", srv, "WEB.weave.local.", mdns.TypeAAAA, 0)); !slices.Equal(got, []string{"fd00::1"}) {
		t.Fatalf("AAAA web over TCP = %v", got)
	}
	if got := answerAddrs(query(t, "udp", srv, "2.0.32.10.in-addr.arpa.", mdns.TypePTR, 0)); !slices.Equal(got, []string{"web.weave.local."}) {
		t.Fatalf("PTR = %v", got)
	}
	if r := query(t, "udp", srv, "nope.weave.local.", mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError || len(r.Ns) != 1 {
		t.Fatalf("unknown name: rcode %s", mdns.RcodeToString[r.Rcode])
	}
	if r := query(t, "udp", srv, "web.weave.local.", mdns.TypeMX, 0); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 0 {
		t.Fatalf("MX of a known name: %v", r)
	}
	// EDNS0 is answered with EDNS0.
	if r := query(t, "udp", srv, "web.weave.local.", mdns.TypeA, 1232); r.IsEdns0() == nil {
		t.Fatal("no OPT in the answer to an EDNS0 query")
	}

	// Round robin: both orders show up.
	firsts := map[string]bool{}
	for range 64 {
		firsts[answerAddrs(query(t, "udp", srv, "web.weave.local.", mdns.TypeA, 0))[0]] = true
	}
	if len(firsts) != 2 {
		t.Fatalf("answers always in one order: %v", firsts)
	}

	// Truncation and TCP fallback: 60 addresses do not fit 512 bytes.
	var many []netip.Addr
	for i := range 60 {
		many = append(many, netip.AddrFrom4([4]byte{10, 32, 1, byte(i + 1)}))
	}
	if err := s.Register("/run/netns/c3", "many", many); err != nil {
		t.Fatal(err)
	}
	r = query(t, "udp", srv, "many.weave.local.", mdns.TypeA, 0)
	if !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("UDP answer of 60 addresses: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}
	if r := query(t, "tcp", srv, "many.weave.local.", mdns.TypeA, 0); r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("TCP answer: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}
	if r := query(t, "udp", srv, "many.weave.local.", mdns.TypeA, 4096); r.Truncated || len(r.Answer) != 60 {
		t.Fatalf("EDNS0 4096 answer: truncated %v, %d answers", r.Truncated, len(r.Answer))
	}

	// Forwarding, and the TCP retry when the upstream truncates.
	if got := answerAddrs(query(t, "udp", srv, "www.example.test.", mdns.TypeA, 0)); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("forwarded = %v", got)
	}
	if r := query(t, "tcp", srv, "big.example.test.", mdns.TypeA, 0); len(r.Answer) != 60 {
		t.Fatalf("forwarded over TCP after a truncated UDP answer: %d answers", len(r.Answer))
	}
	if s.stats.forwards[fwdTCPRetry].Load() == 0 {
		t.Fatal("no TCP retry counted")
	}
	if r := query(t, "udp", srv, "big.example.test.", mdns.TypeA, 0); !r.Truncated {
		t.Fatal("a forwarded answer too big for the client was not truncated")
	}
	// A reverse name we do not know is forwarded.
	if r := query(t, "udp", srv, "9.9.9.10.in-addr.arpa.", mdns.TypePTR, 0); r.Rcode != mdns.RcodeSuccess {
		t.Fatalf("unknown PTR: %s", mdns.RcodeToString[r.Rcode])
	}

	// No upstream: SERVFAIL.
	s.SetUpstreams(nil)
	if r := query(t, "udp", srv, "www.example.test.", mdns.TypeA, 0); r.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("no upstream: %s", mdns.RcodeToString[r.Rcode])
	}
	// Our own address is never an upstream.
	s.SetUpstreams([]string{srv})
	if len(s.Upstreams()) != 0 {
		t.Fatalf("forwarding to itself: %v", s.Upstreams())
	}

	// Unregister drops the names.
	if err := s.Unregister("/run/netns/c1"); err != nil {
		t.Fatal(err)
	}
	if got := answerAddrs(query(t, "udp", srv, "web.weave.local.", mdns.TypeA, 0)); !slices.Equal(got, []string{"10.32.0.2"}) {
		t.Fatalf("after unregister = %v", got)
	}
}

func TestServerResolvConfReload(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 192.0.2.53\nnameserver 127.0.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("127.0.0.1:0"), ResolvConf: rc})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Upstreams(); !slices.Equal(got, []string{"192.0.2.53:53", "127.0.0.1:53"}) {
		t.Fatalf("upstreams %v", got)
	}
	if err := os.WriteFile(rc, []byte("nameserver 198.51.100.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The loop looks every second; wait for it with no fixed deadline
	// beyond the test's.
	for !slices.Equal(s.Upstreams(), []string{"198.51.100.53:53"}) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestServiceRestartKeepsNames(t *testing.T) {
	leakcheck.Check(t)
	dir := t.TempDir()
	cfg := Config{Self: peerA, Listen: netip.MustParseAddrPort("127.0.0.1:0"), ResolvConf: "/nonexistent", DataDir: dir}
	s, _ := New(cfg)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Register("/run/netns/c1", "keep", []netip.Addr{netip.MustParseAddr("10.32.0.7")}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, _ := New(cfg)
	if err := s2.Start(); err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := s2.Registry().Lookup("keep.weave.local."); len(got) != 1 {
		t.Fatalf("after restart: %v", got)
	}
}

func TestNewDoesNoIO(t *testing.T) {
	leakcheck.Check(t)
	s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("127.0.0.1:53"), DataDir: "/nonexistent/dir"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Self: peerA}); err == nil {
		t.Fatal("no listen address accepted")
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestForwardFloodDropsAndLocalStillAnswers(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	// An upstream that never answers.
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("127.0.0.1:0"), ResolvConf: "/nonexistent",
		MaxForwards: 2, ForwardTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetUpstreams([]string{silent.LocalAddr().String()})
	_ = s.Register("k", "web", []netip.Addr{netip.MustParseAddr("10.32.0.1")})
	conn, err := net.Dial("udp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	q := new(mdns.Msg)
	q.SetQuestion("flood.example.test.", mdns.TypeA)
	pkt, _ := q.Pack()
	for range 200 {
		_, _ = conn.Write(pkt)
	}
	if got := answerAddrs(query(t, "udp", s.Addr().String(), "web.weave.local.", mdns.TypeA, 0)); len(got) != 1 {
		t.Fatalf("local name during the flood: %v", got)
	}
	for s.stats.dropped.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
}

func TestListenBeforeTheAddressExists(t *testing.T) {
	leakcheck.Check(t)
	// 192.0.2.53 is on no interface of the test's host: the server
	// still starts (it answers once the address is added).
	s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("192.0.2.53:0"), ResolvConf: "/nonexistent"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
