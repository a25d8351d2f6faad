package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// testPkt describes an Ethernet/IP/TCP-or-UDP packet field by field, so that
// the reference segmenter can build every segment from scratch.
type testPkt struct {
	vlan      bool
	tci       uint16
	v6        bool
	tcp       bool
	src, dst  [16]byte // IPv4 uses the first 4 bytes
	tos, ttl  byte
	ipID      uint16
	df        bool
	ipOpts    []byte // IPv4 options, a multiple of 4 bytes
	flowLabel uint32
	sport     uint16
	dport     uint16
	seq, ack  uint32
	flags     byte
	window    uint16
	urg       uint16
	tcpOpts   []byte // a multiple of 4 bytes
}

func (p *testPkt) l4HdrLen() int {
	if p.tcp {
		return 20 + len(p.tcpOpts)
	}
	return 8
}

func (p *testPkt) ipHdrLen() int {
	if p.v6 {
		return 40
	}
	return 20 + len(p.ipOpts)
}

func (p *testPkt) proto() byte {
	if p.tcp {
		return 6
	}
	return 17
}

// pseudo returns the pseudo-header for an L4 length of n bytes.
func (p *testPkt) pseudo(n int) []byte {
	var b []byte
	if p.v6 {
		b = append(b, p.src[:]...)
		b = append(b, p.dst[:]...)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
		b = append(b, 0, 0, 0, p.proto())
	} else {
		b = append(b, p.src[:4]...)
		b = append(b, p.dst[:4]...)
		b = append(b, 0, p.proto())
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	}
	return b
}

// build encodes the packet with the given payload and per-segment fields.
// With partial, the L4 checksum field holds the pseudo-header sum, as the
// kernel leaves it for CHECKSUM_PARTIAL; otherwise the full checksum.
func (p *testPkt) build(payload []byte, seq uint32, flags byte, id uint16, partial bool) []byte {
	var f []byte
	f = append(f, 0x02, 0, 0, 0, 0, 0xbb) // dst MAC
	f = append(f, 0x02, 0, 0, 0, 0, 0xaa) // src MAC
	if p.vlan {
		f = binary.BigEndian.AppendUint16(f, 0x8100)
		f = binary.BigEndian.AppendUint16(f, p.tci)
	}
	l4Len := p.l4HdrLen() + len(payload)
	if p.v6 {
		f = binary.BigEndian.AppendUint16(f, 0x86dd)
		f = binary.BigEndian.AppendUint32(f, 6<<28|uint32(p.tos)<<20|p.flowLabel&0xfffff)
		f = binary.BigEndian.AppendUint16(f, uint16(l4Len))
		f = append(f, p.proto(), p.ttl)
		f = append(f, p.src[:]...)
		f = append(f, p.dst[:]...)
	} else {
		f = binary.BigEndian.AppendUint16(f, 0x0800)
		ipStart := len(f)
		f = append(f, byte(0x40|(20+len(p.ipOpts))/4), p.tos)
		f = binary.BigEndian.AppendUint16(f, uint16(p.ipHdrLen()+l4Len))
		f = binary.BigEndian.AppendUint16(f, id)
		var frag uint16
		if p.df {
			frag = 0x4000
		}
		f = binary.BigEndian.AppendUint16(f, frag)
		f = append(f, p.ttl, p.proto(), 0, 0)
		f = append(f, p.src[:4]...)
		f = append(f, p.dst[:4]...)
		f = append(f, p.ipOpts...)
		binary.BigEndian.PutUint16(f[ipStart+10:], ^slowChecksum(f[ipStart:]))
	}
	l4Start := len(f)
	f = binary.BigEndian.AppendUint16(f, p.sport)
	f = binary.BigEndian.AppendUint16(f, p.dport)
	csumAt := l4Start + 6
	if p.tcp {
		f = binary.BigEndian.AppendUint32(f, seq)
		f = binary.BigEndian.AppendUint32(f, p.ack)
		f = append(f, byte((20+len(p.tcpOpts))/4)<<4, flags)
		f = binary.BigEndian.AppendUint16(f, p.window)
		f = append(f, 0, 0)
		f = binary.BigEndian.AppendUint16(f, p.urg)
		f = append(f, p.tcpOpts...)
		csumAt = l4Start + 16
	} else {
		f = binary.BigEndian.AppendUint16(f, uint16(l4Len))
		f = append(f, 0, 0)
	}
	f = append(f, payload...)
	if partial {
		binary.BigEndian.PutUint16(f[csumAt:], slowChecksum(p.pseudo(l4Len)))
	} else {
		c := ^slowChecksum(append(p.pseudo(l4Len), f[l4Start:]...))
		if !p.tcp && c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(f[csumAt:], c)
	}
	return f
}

func (p *testPkt) l4Off() int {
	off := 14 + p.ipHdrLen()
	if p.vlan {
		off += 4
	}
	return off
}

// gso returns the offload description the kernel would give the super-frame.
func (p *testPkt) gso(mss int, ecn, needsCsum bool) frame.GSO {
	g := frame.GSO{Size: uint16(mss), HdrLen: uint16(p.l4Off() + p.l4HdrLen())}
	switch {
	case !p.tcp:
		g.Type = frame.GSOUDPL4
	case p.v6:
		g.Type = frame.GSOTCPv6
	default:
		g.Type = frame.GSOTCPv4
	}
	if ecn {
		g.Type |= frame.GSOECN
	}
	if needsCsum {
		g.Flags = frame.GSOFlagNeedsCsum
		g.CsumStart = uint16(p.l4Off())
		g.CsumOffset = 6
		if p.tcp {
			g.CsumOffset = 16
		}
	}
	return g
}

// refSegment is the slow, obviously correct segmenter: it builds each
// segment from the packet's description.
func refSegment(p *testPkt, payload []byte, mss int) [][]byte {
	n := max(1, (len(payload)+mss-1)/mss)
	segs := make([][]byte, n)
	for i := range n {
		off := i * mss
		chunk := payload[off:min(off+mss, len(payload))]
		flags := p.flags
		if i != n-1 {
			flags &^= 0x01 | 0x08 // FIN, PSH
		}
		if i != 0 {
			flags &^= 0x80 // CWR
		}
		segs[i] = p.build(chunk, p.seq+uint32(off), flags, p.ipID+uint16(i), false)
	}
	return segs
}

// testLayout parses a frame independently of Cut: offsets of the IP
// header, the L4 header and the payload.
func testLayout(f []byte) (l3, l4, pay int, v6, tcp, ok bool) {
	if len(f) < 14 {
		return
	}
	l3 = 14
	et := int(f[12])<<8 | int(f[13])
	if et == 0x8100 {
		if len(f) < 18 {
			return
		}
		l3 = 18
		et = int(f[16])<<8 | int(f[17])
	}
	var proto byte
	switch et {
	case 0x0800:
		if len(f) < l3+20 {
			return
		}
		l4 = l3 + int(f[l3]&0xf)*4
		proto = f[l3+9]
	case 0x86dd:
		v6 = true
		if len(f) < l3+40 {
			return
		}
		l4 = l3 + 40
		proto = f[l3+6]
	default:
		return
	}
	switch proto {
	case 6:
		tcp = true
		if len(f) < l4+20 {
			return
		}
		pay = l4 + int(f[l4+12]>>4)*4
	case 17:
		pay = l4 + 8
	default:
		return
	}
	ok = pay <= len(f)
	return
}

// verifySegment checks that an ordinary frame is consistent: IP lengths,
// the IPv4 header checksum, the L4 checksum over the pseudo-header.
func verifySegment(t *testing.T, f []byte) {
	t.Helper()
	l3, l4, _, v6, tcp, ok := testLayout(f)
	if !ok {
		t.Fatalf("segment does not parse: %x", f)
	}
	var pseudo []byte
	proto := byte(17)
	if tcp {
		proto = 6
	}
	l4Len := len(f) - l4
	if v6 {
		if pl := int(binary.BigEndian.Uint16(f[l3+4:])); pl != len(f)-l3-40 {
			t.Fatalf("IPv6 payload length %d, want %d", pl, len(f)-l3-40)
		}
		pseudo = append(pseudo, f[l3+8:l3+40]...)
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(l4Len))
		pseudo = append(pseudo, 0, 0, 0, proto)
	} else {
		if tl := int(binary.BigEndian.Uint16(f[l3+2:])); tl != len(f)-l3 {
			t.Fatalf("IPv4 total length %d, want %d", tl, len(f)-l3)
		}
		if s := slowChecksum(f[l3:l4]); s != 0xffff {
			t.Fatalf("IPv4 header checksum does not verify: %#04x", s)
		}
		pseudo = append(pseudo, f[l3+12:l3+20]...)
		pseudo = append(pseudo, 0, proto)
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(l4Len))
	}
	if !tcp {
		if ul := int(binary.BigEndian.Uint16(f[l4+4:])); ul != l4Len {
			t.Fatalf("UDP length %d, want %d", ul, l4Len)
		}
	}
	if s := slowChecksum(append(pseudo, f[l4:]...)); s != 0xffff {
		t.Fatalf("L4 checksum does not verify: %#04x", s)
	}
}

func randPkt(r *rand.Rand) *testPkt {
	p := &testPkt{
		vlan:      r.IntN(4) == 0,
		tci:       uint16(r.Uint32()),
		v6:        r.IntN(2) == 0,
		tcp:       r.IntN(3) != 0,
		tos:       byte(r.Uint32()),
		ttl:       byte(r.Uint32()),
		ipID:      uint16(r.Uint32()),
		df:        r.IntN(2) == 0,
		flowLabel: r.Uint32(),
		sport:     uint16(r.Uint32()),
		dport:     uint16(r.Uint32()),
		seq:       r.Uint32(),
		ack:       r.Uint32(),
		flags:     byte(r.Uint32()),
		window:    uint16(r.Uint32()),
		urg:       uint16(r.Uint32()),
	}
	for i := range p.src {
		p.src[i], p.dst[i] = byte(r.Uint32()), byte(r.Uint32())
	}
	if !p.v6 && r.IntN(3) == 0 {
		p.ipOpts = make([]byte, 4*r.IntN(11))
		for i := range p.ipOpts {
			p.ipOpts[i] = byte(r.Uint32())
		}
	}
	if r.IntN(2) == 0 {
		p.tcpOpts = make([]byte, 4*r.IntN(11))
		for i := range p.tcpOpts {
			p.tcpOpts[i] = byte(r.Uint32())
		}
	}
	return p
}

// makeOut returns n buffers with room for size bytes each.
func makeOut(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
	}
	return out
}

func TestSegmentMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	iters := 600
	if testing.Short() {
		iters = 100
	}
	for it := range iters {
		p := randPkt(r)
		maxPay := 65535 - p.l4HdrLen()
		if !p.v6 {
			maxPay -= p.ipHdrLen()
		}
		var mss, payLen int
		switch r.IntN(5) {
		case 0: // tiny segments, short payload
			mss = 1 + r.IntN(64)
			payLen = r.IntN(mss * 70)
		case 1: // payload around one segment
			mss = 1 + r.IntN(9000)
			payLen = max(0, mss-2+r.IntN(4))
		default:
			mss = 500 + r.IntN(8500)
			payLen = r.IntN(maxPay + 1)
		}
		payLen = min(payLen, maxPay)
		payload := make([]byte, payLen)
		for i := range payload {
			payload[i] = byte(r.Uint32())
		}
		needsCsum := !p.tcp || r.IntN(4) != 0
		ecn := p.tcp && r.IntN(4) == 0
		super := p.build(payload, p.seq, p.flags, p.ipID, needsCsum)
		g := p.gso(mss, ecn, needsCsum)
		if r.IntN(4) == 0 {
			g.HdrLen = uint16(r.Uint32()) // a hint only
		}
		want := refSegment(p, payload, mss)
		hdrLen := p.l4Off() + p.l4HdrLen()
		out := makeOut(len(want)+r.IntN(3), hdrLen+mss)
		superCopy := bytes.Clone(super)
		n, err := Cut(super, g, out)
		if err != nil {
			t.Fatalf("case %d (%+v): Cut: %v", it, g, err)
		}
		if !bytes.Equal(super, superCopy) {
			t.Fatalf("case %d: Cut modified its input", it)
		}
		if n != len(want) {
			t.Fatalf("case %d: %d segments, want %d", it, n, len(want))
		}
		var cat []byte
		for i := range n {
			if !bytes.Equal(out[i], want[i]) {
				t.Fatalf("case %d (%+v) segment %d of %d:\n got %x\nwant %x", it, g, i, n, out[i], want[i])
			}
			verifySegment(t, out[i])
			_, _, pay, _, _, _ := testLayout(out[i])
			cat = append(cat, out[i][pay:]...)
		}
		if !bytes.Equal(cat, payload) {
			t.Fatalf("case %d: concatenated payloads differ from the original", it)
		}

		// One buffer too few, or one byte too small: refused, no panic.
		if n > 0 {
			if _, err := Cut(super, g, out[:n-1]); !errors.Is(err, io.ErrShortBuffer) {
				t.Fatalf("case %d: %d buffers for %d segments: err = %v", it, n-1, n, err)
			}
			last := len(want[n-1])
			out[n-1] = out[n-1][: 0 : last-1]
			if _, err := Cut(super, g, out); !errors.Is(err, io.ErrShortBuffer) {
				t.Fatalf("case %d: short last buffer: err = %v", it, err)
			}
		}
	}
}

// validSuper returns a valid super-frame and its GSO for the malformed table.
func validSuper(v6, tcp, vlan bool) ([]byte, frame.GSO) {
	p := &testPkt{v6: v6, tcp: tcp, vlan: vlan, ttl: 64, df: true, seq: 1000, flags: 0x18, window: 512}
	copy(p.src[:], []byte{10, 0, 0, 1})
	copy(p.dst[:], []byte{10, 0, 0, 2})
	payload := bytes.Repeat([]byte("0123456789"), 30)
	return p.build(payload, p.seq, p.flags, p.ipID, true), p.gso(100, false, true)
}

func TestSegmentMalformed(t *testing.T) {
	const (
		v4l3 = 14
		v4l4 = 34
		v6l3 = 14
		v6l4 = 54
	)
	tests := []struct {
		name   string
		v6     bool
		tcp    bool
		vlan   bool
		mutate func(f []byte, g *frame.GSO) []byte
	}{
		{"empty frame", false, true, false, func(f []byte, g *frame.GSO) []byte { return nil }},
		{"truncated Ethernet", false, true, false, func(f []byte, g *frame.GSO) []byte { return f[:10] }},
		{"truncated VLAN tag", false, true, true, func(f []byte, g *frame.GSO) []byte { return f[:16] }},
		{"stacked VLAN tags", false, true, true, func(f []byte, g *frame.GSO) []byte { f[16], f[17] = 0x81, 0x00; return f }},
		{"ARP EtherType", false, true, false, func(f []byte, g *frame.GSO) []byte { f[13] = 0x06; return f }},
		{"truncated IPv4 header", false, true, false, func(f []byte, g *frame.GSO) []byte { return f[:v4l3+10] }},
		{"IPv4 version 6", false, true, false, func(f []byte, g *frame.GSO) []byte { f[v4l3] = 0x65; return f }},
		{"IHL below 5", false, true, false, func(f []byte, g *frame.GSO) []byte { f[v4l3] = 0x44; return f }},
		{"IHL past the frame", false, true, false, func(f []byte, g *frame.GSO) []byte { f[v4l3] = 0x4f; return f[:v4l3+40] }},
		{"IPv4 total length too big", false, true, false, func(f []byte, g *frame.GSO) []byte {
			binary.BigEndian.PutUint16(f[v4l3+2:], uint16(len(f)-v4l3+1))
			return f
		}},
		{"IPv4 total length too small", false, true, false, func(f []byte, g *frame.GSO) []byte {
			binary.BigEndian.PutUint16(f[v4l3+2:], uint16(len(f)-v4l3-1))
			return f
		}},
		{"IPv4 trailing bytes", false, true, false, func(f []byte, g *frame.GSO) []byte { return append(f, 0, 0) }},
		{"IPv4 fragment", false, true, false, func(f []byte, g *frame.GSO) []byte { f[v4l3+6] |= 0x20; return f }},
		{"IPv4 UDP with GSO TCPv4", false, false, false, func(f []byte, g *frame.GSO) []byte {
			g.Type, g.CsumOffset = frame.GSOTCPv4, 16
			return f
		}},
		{"IPv4 TCP with GSO TCPv6", false, true, false, func(f []byte, g *frame.GSO) []byte { g.Type = frame.GSOTCPv6; return f }},
		{"IPv4 TCP with GSO UDP_L4", false, true, false, func(f []byte, g *frame.GSO) []byte {
			g.Type, g.CsumOffset = frame.GSOUDPL4, 6
			return f
		}},
		{"IPv6 TCP with GSO TCPv4", true, true, false, func(f []byte, g *frame.GSO) []byte { g.Type = frame.GSOTCPv4; return f }},
		{"truncated IPv6 header", true, true, false, func(f []byte, g *frame.GSO) []byte { return f[:v6l3+39] }},
		{"IPv6 payload length lies", true, true, false, func(f []byte, g *frame.GSO) []byte {
			binary.BigEndian.PutUint16(f[v6l3+4:], uint16(len(f)-v6l3-40-1))
			return f
		}},
		{"IPv6 extension header", true, true, false, func(f []byte, g *frame.GSO) []byte { f[v6l3+6] = 0; return f }},
		{"IPv6 version 4", true, true, false, func(f []byte, g *frame.GSO) []byte { f[v6l3] = 0x40; return f }},
		{"truncated TCP header", false, true, false, func(f []byte, g *frame.GSO) []byte {
			f = f[:v4l4+19]
			binary.BigEndian.PutUint16(f[v4l3+2:], 20+19)
			return f
		}},
		{"TCP data offset below 5", false, true, false, func(f []byte, g *frame.GSO) []byte { f[v4l4+12] = 0x40; return f }},
		{"TCP data offset past the frame", false, true, false, func(f []byte, g *frame.GSO) []byte {
			f = f[:v4l4+40]
			binary.BigEndian.PutUint16(f[v4l3+2:], 20+40)
			f[v4l4+12] = 0xf0
			return f
		}},
		{"truncated UDP header", true, false, false, func(f []byte, g *frame.GSO) []byte {
			f = f[:v6l4+7]
			binary.BigEndian.PutUint16(f[v6l3+4:], 7)
			return f
		}},
		{"UDP length lies", false, false, false, func(f []byte, g *frame.GSO) []byte {
			binary.BigEndian.PutUint16(f[v4l4+4:], uint16(len(f)-v4l4-1))
			return f
		}},
		{"zero Size", false, true, false, func(f []byte, g *frame.GSO) []byte { g.Size = 0; return f }},
		{"GSO none", false, true, false, func(f []byte, g *frame.GSO) []byte { g.Type = frame.GSONone; return f }},
		{"GSO UFO", false, false, false, func(f []byte, g *frame.GSO) []byte { g.Type = frame.GSOUDP; return f }},
		{"GSO ECN with UDP_L4", false, false, false, func(f []byte, g *frame.GSO) []byte { g.Type |= frame.GSOECN; return f }},
		{"UDP_L4 without NEEDS_CSUM", false, false, false, func(f []byte, g *frame.GSO) []byte { g.Flags = 0; return f }},
		{"CsumStart off by 4", false, true, false, func(f []byte, g *frame.GSO) []byte { g.CsumStart += 4; return f }},
		{"CsumStart ignoring the VLAN tag", false, true, true, func(f []byte, g *frame.GSO) []byte { g.CsumStart = v4l4; return f }},
		{"CsumOffset of UDP on TCP", false, true, false, func(f []byte, g *frame.GSO) []byte { g.CsumOffset = 6; return f }},
		{"CsumOffset of TCP on UDP", true, false, false, func(f []byte, g *frame.GSO) []byte { g.CsumOffset = 16; return f }},
	}
	out := makeOut(64, frame.MaxFrameSize)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := validSuper(tt.v6, tt.tcp, tt.vlan)
			if _, err := Cut(f, g, out); err != nil {
				t.Fatalf("unmutated frame refused: %v", err)
			}
			f = tt.mutate(f, &g)
			n, err := Cut(f, g, out)
			if !errors.Is(err, ErrBadGSO) || n != 0 {
				t.Errorf("Cut = %d, %v; want ErrBadGSO", n, err)
			}
		})
	}
}

func TestSegmentAllocs(t *testing.T) {
	f, g := benchSuper()
	out := makeOut(64, frame.MaxFrameSize)
	if a := testing.AllocsPerRun(100, func() {
		if _, err := Cut(f, g, out); err != nil {
			t.Fatal(err)
		}
	}); a != 0 {
		t.Errorf("Cut allocates %v times per call", a)
	}
}

// benchSuper returns a 64 KiB TCPv4 super-frame (IP total length 65535)
// with MSS 1448, as a TAP with TSO hands it over.
func benchSuper() ([]byte, frame.GSO) {
	p := &testPkt{ttl: 64, df: true, tcp: true, seq: 1, flags: 0x18, window: 512, tcpOpts: make([]byte, 12)}
	copy(p.src[:], []byte{10, 32, 0, 1})
	copy(p.dst[:], []byte{10, 32, 0, 2})
	payload := make([]byte, 65535-20-32)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	return p.build(payload, p.seq, p.flags, p.ipID, true), p.gso(1448, false, true)
}

func BenchmarkSegment(b *testing.B) {
	f, g := benchSuper()
	out := makeOut(64, frame.MaxFrameSize)
	n, err := Cut(f, g, out)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		Cut(f, g, out)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "segments/s")
}

// FuzzSegment checks Cut's segments against the super-frame and Cut's
// verdict against frame.CheckGSO's.
func FuzzSegment(f *testing.F) {
	add := func(frame []byte, g frame.GSO) {
		f.Add(frame, g.Flags, g.Type, g.HdrLen, g.Size, g.CsumStart, g.CsumOffset)
	}
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			fr, g := validSuper(v6, tcp, !v6)
			add(fr, g)
			g.Size = 150
			add(fr[:len(fr)-1], g)                     // truncated: length field lies
			add(fr[:30], g)                            // truncated in the IP header
			add(fr, frame.GSO{Type: g.Type})           // zero Size, no checksum offsets
			add(fr, frame.GSO{Type: frame.GSOUDP | 1}) // unknown type
			g.Type ^= frame.GSOTCPv4 ^ frame.GSOTCPv6  // wrong version for the type
			add(fr, g)
		}
	}
	backing := make([]byte, 64*frame.MaxFrameSize)
	out := make([][]byte, 64)
	f.Fuzz(func(t *testing.T, super []byte, flags, typ uint8, hdrLen, size, csumStart, csumOffset uint16) {
		g := frame.GSO{Flags: flags, Type: typ, HdrLen: hdrLen, Size: size, CsumStart: csumStart, CsumOffset: csumOffset}
		for i := range out {
			out[i] = backing[i*frame.MaxFrameSize : (i+1)*frame.MaxFrameSize]
		}
		in := bytes.Clone(super)
		n, err := Cut(super, g, out)
		if !bytes.Equal(in, super) {
			t.Fatal("Cut modified its input")
		}
		// The router's check agrees on super-frames: what it lets
		// through to the TAP, Cut can segment; what Cut takes with a
		// descriptor a TAP would write (NEEDS_CSUM, HdrLen within the
		// frame), it lets through.
		if g.IsSuper() {
			check := frame.CheckGSO(super, g)
			if check == nil && errors.Is(err, ErrBadGSO) {
				t.Fatalf("CheckGSO accepted %+v, Cut refused it: %v", g, err)
			}
			if err == nil && g.Flags == frame.GSOFlagNeedsCsum && int(g.HdrLen) <= len(super) && check != nil {
				t.Fatalf("Cut took %+v, CheckGSO refused it: %v", g, check)
			}
		}
		if err != nil {
			if n != 0 || !(errors.Is(err, ErrBadGSO) || errors.Is(err, io.ErrShortBuffer)) {
				t.Fatalf("Cut = %d, %v", n, err)
			}
			return
		}
		_, _, pay, _, _, ok := testLayout(super)
		if !ok || n < 1 {
			t.Fatalf("Segment accepted a frame the test cannot parse (n=%d)", n)
		}
		var cat []byte
		for i := range n {
			verifySegment(t, out[i])
			_, _, sp, _, _, _ := testLayout(out[i])
			if sp != pay || !bytes.Equal(out[i][:14], super[:14]) {
				t.Fatalf("segment %d: headers differ from the super-frame's", i)
			}
			if l := len(out[i]) - sp; l > int(size) || (i < n-1 && l != int(size)) {
				t.Fatalf("segment %d: %d payload bytes, size %d", i, l, size)
			}
			cat = append(cat, out[i][sp:]...)
		}
		if !bytes.Equal(cat, super[pay:]) {
			t.Fatal("concatenated payloads differ from the super-frame's")
		}
	})
}

// slowChecksum is RFC 1071 done the obvious way.
func slowChecksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
