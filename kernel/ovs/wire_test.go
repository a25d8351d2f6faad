package ovs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// missMsg builds an OVS_PACKET_CMD_MISS payload (after the netlink
// header) as the kernel sends it.
func missMsg(dp int32, pkt []byte, inPort uint32, src, dst frame.MAC, tunnel []byte) []byte {
	b := []byte{packetCmdMiss, 1, 0, 0}
	b = binary.NativeEndian.AppendUint32(b, uint32(dp))
	b = appendAttr(b, packetPacket, pkt)
	var key []byte
	key = appendAttr(key, 2, binary.NativeEndian.AppendUint32(nil, 0)) // OVS_KEY_ATTR_PRIORITY: ignored
	key = appendU32Attr(key, keyInPort, inPort)
	key = appendAttr(key, keyEthernet, append(src[:], dst[:]...))
	if tunnel != nil {
		key = appendAttr(key, keyTunnel|nlaFNested, tunnel)
	}
	return appendAttr(b, packetKey|nlaFNested, key)
}

func tunnelAttrs(id uint64, src, dst netip.Addr) []byte {
	var t []byte
	t = appendAttr(t, tunID, binary.BigEndian.AppendUint64(nil, id))
	s, d := src.As4(), dst.As4()
	t = appendAttr(t, tunIPv4Src, s[:])
	t = appendAttr(t, tunIPv4Dst, d[:])
	t = appendAttr(t, 4, []byte{64}) // OVS_TUNNEL_KEY_ATTR_TTL: ignored
	return t
}

var (
	macX = frame.MAC{2, 0, 0, 0, 0, 1}
	macY = frame.MAC{2, 0, 0, 0, 0, 2}
)

func TestParseUpcall(t *testing.T) {
	pkt := make([]byte, 60)
	copy(pkt, macY[:])
	copy(pkt[6:], macX[:])

	u, err := parseUpcall(missMsg(7, pkt, 1, macX, macY, nil))
	if err != nil {
		t.Fatal(err)
	}
	if u.Dp != 7 || u.InPort != 1 || u.Src != macX || u.Dst != macY || u.Tunnel || len(u.Packet) != 60 {
		t.Errorf("bridge miss = %+v", u)
	}

	src, dst := netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("198.51.100.1")
	u, err = parseUpcall(missMsg(7, pkt, 2, macX, macY, tunnelAttrs(0x7773, src, dst)))
	if err != nil {
		t.Fatal(err)
	}
	if !u.Tunnel || u.TunID != 0x7773 || u.TunSrc != src || u.TunDst != dst || u.InPort != 2 {
		t.Errorf("tunnel miss = %+v", u)
	}
}

func TestParseUpcallRejects(t *testing.T) {
	pkt := make([]byte, 20)
	good := missMsg(1, pkt, 1, macX, macY, nil)
	action := append([]byte{2}, good[1:]...) // OVS_PACKET_CMD_ACTION
	tests := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"header only", good[:8]},
		{"not a miss", action},
		{"truncated attribute", good[:len(good)-3]},
		{"attribute length past the end", func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint16(b[8:], 0xfff0)
			return b
		}()},
		{"attribute length below its header", func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint16(b[8:], 2)
			return b
		}()},
		{"no packet", func() []byte {
			b := []byte{packetCmdMiss, 1, 0, 0, 1, 0, 0, 0}
			return appendAttr(b, packetKey, appendU32Attr(nil, keyInPort, 1))
		}()},
		{"no in_port", func() []byte {
			b := []byte{packetCmdMiss, 1, 0, 0, 1, 0, 0, 0}
			b = appendAttr(b, packetPacket, pkt)
			return appendAttr(b, packetKey, appendAttr(nil, keyEthernet, make([]byte, 12)))
		}()},
		{"short ethernet key", func() []byte {
			b := []byte{packetCmdMiss, 1, 0, 0, 1, 0, 0, 0}
			b = appendAttr(b, packetPacket, pkt)
			k := appendU32Attr(nil, keyInPort, 1)
			return appendAttr(b, packetKey, appendAttr(k, keyEthernet, make([]byte, 11)))
		}()},
		{"short tunnel address", func() []byte {
			return missMsg(1, pkt, 2, macX, macY, appendAttr(nil, tunIPv4Src, []byte{1, 2, 3}))
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseUpcall(tt.msg); !errors.Is(err, errMalformed) {
				t.Errorf("parseUpcall = %v, want errMalformed", err)
			}
		})
	}
}

func TestParseDatapathStats(t *testing.T) {
	b := []byte{dpCmdGet, dpVersion, 0, 0, 9, 0, 0, 0}
	b = appendAttr(b, dpAttrName, []byte("weave-dp\x00"))
	var st []byte
	for _, v := range []uint64{100, 7, 1, 4} {
		st = binary.NativeEndian.AppendUint64(st, v)
	}
	b = appendAttr(b, dpAttrStats, st)
	s, err := parseDatapathStats(b)
	if err != nil {
		t.Fatal(err)
	}
	if s != (DatapathStats{Hit: 100, Missed: 7, Lost: 1, Flows: 4}) {
		t.Errorf("stats = %+v", s)
	}
	if _, err := parseDatapathStats(b[:len(b)-8]); !errors.Is(err, errMalformed) {
		t.Errorf("truncated stats: %v, want errMalformed", err)
	}
}

func TestGenlRequestLayout(t *testing.T) {
	a := appendU32Attr(nil, vportPortNo, 2)
	a = appendU32Attr(a, vportUpcall, 1234)
	m := newGenlRequest(0x20, vportCmdSet, vportVersion, true, 5, a)
	if got := binary.NativeEndian.Uint32(m[0:4]); int(got) != len(m) || len(m) != 16+4+4+16 {
		t.Fatalf("length field %d, message %d bytes", got, len(m))
	}
	if binary.NativeEndian.Uint16(m[4:6]) != 0x20 || m[16] != vportCmdSet || m[17] != vportVersion {
		t.Errorf("header = % x", m[:20])
	}
	if binary.NativeEndian.Uint32(m[20:24]) != 5 {
		t.Errorf("dp_ifindex = % x", m[20:24])
	}
	got, err := parseAttrs(m[24:])
	if err != nil {
		t.Fatal(err)
	}
	if binary.NativeEndian.Uint32(got[vportUpcall]) != 1234 || binary.NativeEndian.Uint32(got[vportPortNo]) != 2 {
		t.Errorf("attrs = %v", got)
	}
	if id, err := parseFamilyID(append([]byte{1, 2, 0, 0}, appendAttr(nil, ctrlFamilyID, []byte{0x21, 0})...)); err != nil || id != 0x21 {
		t.Errorf("parseFamilyID = %d, %v", id, err)
	}
}

// The upcall decoder reads what the kernel (or, if the port check were
// wrong, anyone) sends: it must never panic, and a message it accepts
// must re-encode to one it decodes the same way.
func FuzzParseUpcall(f *testing.F) {
	pkt := make([]byte, 42)
	f.Add(missMsg(3, pkt, 1, macX, macY, nil))
	f.Add(missMsg(3, pkt, 2, macX, macY, tunnelAttrs(1, netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"))))
	f.Add([]byte{packetCmdMiss, 1, 0, 0})                   // truncated: no ovs_header
	f.Add([]byte{packetCmdMiss, 1, 0, 0, 0, 0, 0, 0, 3, 0}) // attribute header cut short
	f.Add([]byte{packetCmdMiss, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseUpcall(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			return
		}
		var tun []byte
		if u.Tunnel {
			tun = appendAttr(nil, tunID, binary.BigEndian.AppendUint64(nil, u.TunID))
			if u.TunSrc.IsValid() {
				s := u.TunSrc.As4()
				tun = appendAttr(tun, tunIPv4Src, s[:])
			}
			if u.TunDst.IsValid() {
				d := u.TunDst.As4()
				tun = appendAttr(tun, tunIPv4Dst, d[:])
			}
		}
		v, err := parseUpcall(missMsg(u.Dp, u.Packet, u.InPort, u.Src, u.Dst, tun))
		if err != nil {
			t.Fatalf("re-encoded upcall rejected: %v", err)
		}
		if v.Dp != u.Dp || v.InPort != u.InPort || v.Src != u.Src || v.Dst != u.Dst || v.Tunnel != u.Tunnel ||
			v.TunID != u.TunID || v.TunSrc != u.TunSrc || v.TunDst != u.TunDst || string(v.Packet) != string(u.Packet) {
			t.Fatalf("round trip: %+v != %+v", v, u)
		}
	})
}

func FuzzParseDatapathStats(f *testing.F) {
	f.Add(append([]byte{dpCmdGet, dpVersion, 0, 0, 1, 0, 0, 0}, appendAttr(nil, dpAttrStats, make([]byte, 32))...))
	f.Add([]byte{dpCmdGet, dpVersion, 0, 0, 1, 0, 0, 0, 36, 0, 3, 0}) // stats attribute longer than the message
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseDatapathStats(b)
		if err != nil {
			if !errors.Is(err, errMalformed) {
				t.Fatalf("error %v does not wrap errMalformed", err)
			}
			if s != (DatapathStats{}) {
				t.Fatalf("error with a non-zero result %+v", s)
			}
		}
	})
}
