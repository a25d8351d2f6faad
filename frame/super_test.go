package frame

import (
	"encoding/binary"
	"errors"
	"testing"
)

// testSuper builds a super-frame as a TAP with offloads reports it:
// Ethernet (optionally 802.1Q-tagged), IPv4 or IPv6, TCP (20-byte header)
// or UDP, payload bytes, and its descriptor (NEEDS_CSUM, segment size
// 1000, HdrLen the header length).
func testSuper(v6, tcp, vlan bool, payload int) ([]byte, GSO) {
	f := []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1}
	if vlan {
		f = append(f, 0x81, 0x00, 0x00, 0x05)
	}
	l4 := 8
	proto := byte(ipProtoUDP)
	if tcp {
		l4, proto = 20, ipProtoTCP
	}
	if v6 {
		f = binary.BigEndian.AppendUint16(f, EtherTypeIPv6)
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(l4+payload))
		ip[6], ip[7] = proto, 64
		f = append(f, ip...)
	} else {
		f = binary.BigEndian.AppendUint16(f, EtherTypeIPv4)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+l4+payload))
		ip[6], ip[8], ip[9] = 0x40, 64, proto // DF
		f = append(f, ip...)
	}
	l4Off := len(f)
	h := make([]byte, l4)
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], 5201)
	csum := UDPCsumOffset
	gsoType := uint8(GSOUDPL4)
	if tcp {
		h[12] = 5 << 4
		h[13] = 0x10
		csum = TCPCsumOffset
		gsoType = GSOTCPv4
		if v6 {
			gsoType = GSOTCPv6
		}
	} else {
		binary.BigEndian.PutUint16(h[4:], uint16(l4+payload))
	}
	f = append(f, h...)
	for i := range payload {
		f = append(f, byte(i))
	}
	return f, GSO{Flags: GSOFlagNeedsCsum, Type: gsoType, HdrLen: uint16(l4Off + l4), Size: 1000,
		CsumStart: uint16(l4Off), CsumOffset: uint16(csum)}
}

func TestCheckGSO(t *testing.T) {
	plain := make([]byte, 60)
	tests := []struct {
		name          string
		v6, tcp, vlan bool
		// mutate changes a valid super-frame and its descriptor; nil
		// checks it unchanged.
		mutate func(f []byte, g *GSO) []byte
		want   GSOError // 0: valid
	}{
		{"TCPv4", false, true, false, nil, 0},
		{"TCPv6", true, true, false, nil, 0},
		{"UDP over IPv4", false, false, false, nil, 0},
		{"UDP over IPv6", true, false, false, nil, 0},
		{"TCPv4 behind a VLAN tag", false, true, true, nil, 0},
		{"TCPv4 with ECN", false, true, false, func(f []byte, g *GSO) []byte { g.Type |= GSOECN; return f }, 0},
		{"a payload within one segment", false, true, false, func(f []byte, g *GSO) []byte { g.Size = 60000; return f }, 0},
		{"checksum offload only", false, true, false, func(f []byte, g *GSO) []byte { g.Type, g.Size = GSONone, 0; return f }, 0},
		{"checksum offload only, odd offsets", false, true, false, func(f []byte, g *GSO) []byte {
			*g = GSO{Flags: GSOFlagNeedsCsum, CsumStart: 14, CsumOffset: uint16(len(f) - 16)}
			return f
		}, 0},
		{"data valid only", false, true, false, func(f []byte, g *GSO) []byte { *g = GSO{Flags: GSOFlagDataValid}; return f }, 0},

		{"unknown flag", false, true, false, func(f []byte, g *GSO) []byte { g.Flags |= 4; return f }, GSOBadFlags},
		{"NEEDS_CSUM and DATA_VALID", false, true, false, func(f []byte, g *GSO) []byte { g.Flags |= GSOFlagDataValid; return f }, GSOBadFlags},
		{"HdrLen past the frame", false, true, false, func(f []byte, g *GSO) []byte { g.HdrLen = uint16(len(f) + 1); return f }, GSOHdrLen},
		{"checksum field past the frame", false, true, false, func(f []byte, g *GSO) []byte {
			*g = GSO{Flags: GSOFlagNeedsCsum, CsumStart: 14, CsumOffset: uint16(len(f) - 15)}
			return f
		}, GSOCsumRange},
		{"checksum start past the frame", false, true, false, func(f []byte, g *GSO) []byte {
			*g = GSO{Flags: GSOFlagNeedsCsum, CsumStart: 0xffff, CsumOffset: 0xffff}
			return f
		}, GSOCsumRange},
		{"checksum over the Ethernet header", false, true, false, func(f []byte, g *GSO) []byte {
			*g = GSO{Flags: GSOFlagNeedsCsum, CsumStart: 2, CsumOffset: 16}
			return f
		}, GSOCsumRange},
		{"ECN without a type", false, true, false, func(f []byte, g *GSO) []byte { g.Type = GSOECN; return f }, GSOBadType},
		{"UFO", false, false, false, func(f []byte, g *GSO) []byte { g.Type = GSOUDP; return f }, GSOBadType},
		{"unknown type", false, true, false, func(f []byte, g *GSO) []byte { g.Type = 2; return f }, GSOBadType},
		{"UDP_L4 with ECN", false, false, false, func(f []byte, g *GSO) []byte { g.Type |= GSOECN; return f }, GSOBadType},
		{"super-frame without NEEDS_CSUM", false, true, false, func(f []byte, g *GSO) []byte {
			g.Flags, g.CsumStart, g.CsumOffset = 0, 0, 0
			return f
		}, GSONoNeedsCsum},
		{"zero Size", false, true, false, func(f []byte, g *GSO) []byte { g.Size = 0; return f }, GSOZeroSize},
		{"TCPv6 on IPv4", false, true, false, func(f []byte, g *GSO) []byte { g.Type = GSOTCPv6; return f }, GSOProtoMismatch},
		{"TCPv4 on IPv6", true, true, false, func(f []byte, g *GSO) []byte { g.Type = GSOTCPv4; return f }, GSOProtoMismatch},
		{"TCPv4 on IPv4 UDP", false, false, false, func(f []byte, g *GSO) []byte {
			g.Type, g.CsumOffset = GSOTCPv4, TCPCsumOffset
			return f
		}, GSOProtoMismatch},
		{"UDP_L4 on IPv6 TCP", true, true, false, func(f []byte, g *GSO) []byte {
			g.Type, g.CsumOffset = GSOUDPL4, UDPCsumOffset
			return f
		}, GSOProtoMismatch},
		{"ARP EtherType", false, true, false, func(f []byte, g *GSO) []byte { f[13] = 0x06; return f }, GSOBadEtherType},
		{"stacked VLAN tags", false, true, true, func(f []byte, g *GSO) []byte { f[16], f[17] = 0x81, 0x00; return f }, GSOBadVLAN},
		{"IPv4 total length lies", false, true, false, func(f []byte, g *GSO) []byte { f[17]++; return f }, GSOIPv4Length},
		{"IPv4 fragment", false, true, false, func(f []byte, g *GSO) []byte { f[20] |= 0x20; return f }, GSOIPv4Fragment},
		{"IPv6 payload length lies", true, true, false, func(f []byte, g *GSO) []byte { f[19]++; return f }, GSOIPv6Length},
		{"TCP data offset past the frame", false, true, false, func(f []byte, g *GSO) []byte {
			f = f[:34+40]
			binary.BigEndian.PutUint16(f[16:], 20+40)
			f[34+12] = 0xf0
			*g = GSO{Flags: GSOFlagNeedsCsum, Type: GSOTCPv4, Size: 1000, CsumStart: 34, CsumOffset: TCPCsumOffset}
			return f
		}, GSOBadTCP},
		{"truncated frame", false, true, false, func(f []byte, g *GSO) []byte { g.HdrLen = 0; return f[:60] }, GSOIPv4Length},
		{"TCP data offset below 5", false, true, false, func(f []byte, g *GSO) []byte { f[34+12] = 0x40; return f }, GSOBadTCP},
		{"UDP length lies", false, false, false, func(f []byte, g *GSO) []byte { f[34+5]++; return f }, GSOUDPLength},
		{"checksum field not TCP's", false, true, false, func(f []byte, g *GSO) []byte { g.CsumOffset = UDPCsumOffset; return f }, GSOCsumMismatch},
		{"checksum start ignores the VLAN tag", false, true, true, func(f []byte, g *GSO) []byte { g.CsumStart -= 4; return f }, GSOCsumMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, g := testSuper(tt.v6, tt.tcp, tt.vlan, 3000)
			if tt.mutate != nil {
				f = tt.mutate(f, &g)
			}
			err := CheckGSO(f, g)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("CheckGSO(%+v) = %v, want nil", g, err)
				}
				return
			}
			var ge GSOError
			if !errors.As(err, &ge) || ge != tt.want || !errors.Is(err, ErrBadGSO) {
				t.Fatalf("CheckGSO(%+v) = %v, want %v", g, err, tt.want)
			}
		})
	}
	if err := CheckGSO(plain, GSO{}); err != nil {
		t.Errorf("CheckGSO of an ordinary frame = %v", err)
	}
	if err := CheckGSO(nil, GSO{Flags: GSOFlagNeedsCsum}); err == nil {
		t.Error("CheckGSO accepted NEEDS_CSUM on an empty frame")
	}
}

func TestCheckGSOAllocatesNothing(t *testing.T) {
	f, g := testSuper(false, true, false, 3000)
	bad := g
	bad.Type = GSOTCPv6
	if a := testing.AllocsPerRun(100, func() {
		if CheckGSO(f, g) != nil || CheckGSO(f, bad) == nil {
			t.Fatal("wrong verdict")
		}
	}); a != 0 {
		t.Errorf("CheckGSO allocates %v times per call", a)
	}
}

// FuzzCheckGSO: CheckGSO never panics, every refusal is a GSOError, and
// every descriptor it accepts keeps the promises the TAP relies on,
// checked here the obvious way.
func FuzzCheckGSO(f *testing.F) {
	add := func(fr []byte, g GSO) {
		f.Add(fr, g.Flags, g.Type, g.HdrLen, g.Size, g.CsumStart, g.CsumOffset)
	}
	for _, v6 := range []bool{false, true} {
		for _, tcp := range []bool{false, true} {
			fr, g := testSuper(v6, tcp, !v6, 1500)
			add(fr, g)
			add(fr[:len(fr)-1], g)                              // truncated: length field lies
			add(fr[:30], g)                                     // truncated in the IP header
			add(fr, GSO{Type: g.Type, Flags: GSOFlagNeedsCsum}) // zero Size, no offsets
			add(fr, GSO{Type: GSOECN})                          // ECN alone
			add(fr, GSO{Flags: GSOFlagNeedsCsum, CsumStart: 0xfff0, CsumOffset: 0x20})
			g.Type ^= GSOTCPv4 ^ GSOTCPv6 // wrong IP version for the type
			add(fr, g)
		}
	}
	f.Fuzz(func(t *testing.T, fr []byte, flags, typ uint8, hdrLen, size, csumStart, csumOffset uint16) {
		g := GSO{Flags: flags, Type: typ, HdrLen: hdrLen, Size: size, CsumStart: csumStart, CsumOffset: csumOffset}
		err := CheckGSO(fr, g)
		if err != nil {
			var ge GSOError
			if !errors.As(err, &ge) || !errors.Is(err, ErrBadGSO) || ge.Error() == "" {
				t.Fatalf("CheckGSO = %v, not a GSOError", err)
			}
			return
		}
		if g.IsZero() {
			return
		}
		if flags > 3 || flags == 3 || int(hdrLen) > len(fr) {
			t.Fatalf("accepted flags %#x, HdrLen %d on %d bytes", flags, hdrLen, len(fr))
		}
		if flags&GSOFlagNeedsCsum != 0 && (csumStart < 14 || int(csumStart)+int(csumOffset)+2 > len(fr)) {
			t.Fatalf("accepted checksum at %d+%d on %d bytes", csumStart, csumOffset, len(fr))
		}
		if typ == GSONone {
			return
		}
		if flags != GSOFlagNeedsCsum || size == 0 {
			t.Fatalf("accepted a super-frame with flags %#x, size %d", flags, size)
		}
		// The headers the type names are there and say what it says.
		et := binary.BigEndian.Uint16(fr[12:])
		l3 := 14
		if et == 0x8100 {
			et, l3 = binary.BigEndian.Uint16(fr[16:]), 18
		}
		var proto byte
		var l4 int
		switch {
		case et == EtherTypeIPv4 && (typ&^GSOECN == GSOTCPv4 || typ == GSOUDPL4):
			proto, l4 = fr[l3+9], l3+int(fr[l3]&0xf)*4
		case et == EtherTypeIPv6 && (typ&^GSOECN == GSOTCPv6 || typ == GSOUDPL4):
			proto, l4 = fr[l3+6], l3+40
		default:
			t.Fatalf("accepted GSO type %#x on EtherType %#x", typ, et)
		}
		if (typ == GSOUDPL4) != (proto == ipProtoUDP) || (proto != ipProtoUDP && proto != ipProtoTCP) {
			t.Fatalf("accepted GSO type %#x on IP protocol %d", typ, proto)
		}
		want := TCPCsumOffset
		if proto == ipProtoUDP {
			want = UDPCsumOffset
		}
		if int(csumStart) != l4 || int(csumOffset) != want {
			t.Fatalf("accepted checksum at %d+%d, L4 header at %d", csumStart, csumOffset, l4)
		}
	})
}
