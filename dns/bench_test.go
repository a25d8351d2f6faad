package dns

import (
	"net"
	"net/netip"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// fakeWriter is a ResponseWriter that packs the answer into a reused
// buffer, so that a benchmark measures the handler alone.
type fakeWriter struct {
	buf []byte
	n   int
}

var fakeRemote = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5353}

func (w *fakeWriter) LocalAddr() net.Addr  { return fakeRemote }
func (w *fakeWriter) RemoteAddr() net.Addr { return fakeRemote }
func (w *fakeWriter) WriteMsg(m *mdns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	w.n = len(b)
	return err
}
func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *fakeWriter) Close() error                { return nil }
func (w *fakeWriter) TsigStatus() error           { return nil }
func (w *fakeWriter) TsigTimersOnly(bool)         {}
func (w *fakeWriter) Hijack()                     {}

func TestLookupAllocs(t *testing.T) {
	r := NewRegistry(peerA)
	if err := r.Add("k", "web.weave.local.", []netip.Addr{netip.MustParseAddr("10.32.0.1")}); err != nil {
		t.Fatal(err)
	}
	ad := netip.MustParseAddr("10.32.0.1")
	if n := testing.AllocsPerRun(100, func() {
		if r.lookup("web.weave.local.") == nil || len(r.reverse(ad)) != 1 {
			t.Fatal("not found")
		}
		if _, ok := reverseAddr("1.0.32.10.in-addr.arpa."); !ok {
			t.Fatal("reverse")
		}
	}); n != 0 {
		t.Fatalf("lookup allocates %v times", n)
	}
}

func BenchmarkLookup(b *testing.B) {
	r := NewRegistry(peerA)
	_ = r.Add("k", "web.weave.local.", []netip.Addr{netip.MustParseAddr("10.32.0.1"), netip.MustParseAddr("10.32.0.2")})
	b.ReportAllocs()
	for b.Loop() {
		if r.lookup("web.weave.local.") == nil {
			b.Fatal("not found")
		}
	}
}

// BenchmarkServeLocal: the handler for a name in the domain with two
// addresses, without sockets.
func BenchmarkServeLocal(b *testing.B) {
	s, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("127.0.0.1:0")})
	if err != nil {
		b.Fatal(err)
	}
	_ = s.Register("k", "web", []netip.Addr{netip.MustParseAddr("10.32.0.1"), netip.MustParseAddr("10.32.0.2")})
	req := new(mdns.Msg)
	req.SetQuestion("web.weave.local.", mdns.TypeA)
	w := &fakeWriter{buf: make([]byte, 4096)}
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		s.ServeDNS(w, req)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

// benchUDP sends name to the server over one UDP socket, one query in
// flight at a time, and reports queries/s.
func benchUDP(b *testing.B, server netip.AddrPort, name string, inFlight int) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	q := new(mdns.Msg)
	q.SetQuestion(name, mdns.TypeA)
	pkt, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	start := time.Now()
	sent, got := 0, 0
	for b.Loop() {
		for sent-got < inFlight {
			if _, err := conn.Write(pkt); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if n < 12 || buf[3]&0x0f != 0 {
			b.Fatalf("bad answer (%d bytes, rcode %d)", n, buf[3]&0x0f)
		}
		got++
	}
	// Collect what is still in flight.
	for ; got < sent; got++ {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.Read(buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "queries/s")
}

// BenchmarkQueryLocal: names in the domain through the real UDP server
// on loopback (8 queries in flight).
func BenchmarkQueryLocal(b *testing.B) {
	s := startService(b, "127.0.0.1:9")
	_ = s.Register("k", "web", []netip.Addr{netip.MustParseAddr("10.32.0.1"), netip.MustParseAddr("10.32.0.2")})
	benchUDP(b, s.Addr(), "web.weave.local.", 8)
}

// BenchmarkQueryForwarded: names outside the domain, forwarded to an
// upstream on loopback (8 queries in flight).
func BenchmarkQueryForwarded(b *testing.B) {
	up := startUpstream(b)
	s := startService(b, up.addr)
	benchUDP(b, s.Addr(), "www.example.test.", 8)
}
