package frame

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func TestParsePeerNameAndMAC(t *testing.T) {
	tests := []struct {
		in   string
		ok   bool
		want PeerName
	}{
		{"02:00:00:00:00:01", true, 0x020000000001},
		{"aa-bb-cc-dd-ee-ff", true, 0xaabbccddeeff},
		{"00:00:00:00:00:00", false, 0},
		{"02:00:00:00:00", false, 0},
		{"02:00:00:00:00:0g", false, 0},
		{"02:00:00:00:00:001", false, 0},
		{"02;00:00:00:00:01", false, 0},
	}
	for _, tt := range tests {
		got, err := ParsePeerName(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParsePeerName(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok && got.String() != "02:00:00:00:00:01" && tt.in == "02:00:00:00:00:01" {
			t.Errorf("String() = %q", got.String())
		}
	}
	m, err := ParseMAC("ff:ff:ff:ff:ff:ff")
	if err != nil || m != Broadcast || !m.IsMulticast() || m.String() != "ff:ff:ff:ff:ff:ff" {
		t.Errorf("ParseMAC(broadcast) = %v, %v", m, err)
	}
	var b [6]byte
	PeerName(0x0a0b0c0d0e0f).Put(b[:])
	if PeerNameFrom(b[:]) != 0x0a0b0c0d0e0f {
		t.Error("Put/PeerNameFrom do not round-trip")
	}
}

func TestPeerNameFromSeed(t *testing.T) {
	a, b := PeerNameFromSeed([]byte("host-a")), PeerNameFromSeed([]byte("host-b"))
	if a == b || a == UnknownPeer || a != PeerNameFromSeed([]byte("host-a")) {
		t.Errorf("names not stable and distinct: %v %v", a, b)
	}
	var buf [6]byte
	a.Put(buf[:])
	if buf[0]&1 != 0 || buf[0]&2 == 0 {
		t.Errorf("%v is not a locally administered unicast name", a)
	}
}

func TestParseEthernet(t *testing.T) {
	if _, err := ParseEthernet(make([]byte, 13)); err != ErrShortFrame {
		t.Errorf("13 bytes: err = %v", err)
	}
	f := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x08, 0x06, 0xaa}
	e, err := ParseEthernet(f)
	if err != nil || e.Dst() != (MAC{1, 2, 3, 4, 5, 6}) || e.Src() != (MAC{7, 8, 9, 10, 11, 12}) ||
		e.EtherType() != EtherTypeARP || len(e.Payload()) != 1 {
		t.Errorf("ParseEthernet = %v, %v", e, err)
	}
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

func TestChecksumMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 300 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := Checksum(b, 0), slowChecksum(b); got != want {
			t.Fatalf("len %d: Checksum = %#04x, want %#04x", n, got, want)
		}
	}
}

func FuzzChecksum(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xff})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := Checksum(b, 0), slowChecksum(b); got != want {
			t.Fatalf("Checksum(%x) = %#04x, want %#04x", b, got, want)
		}
	})
}

// TestCompleteChecksum builds a UDP/IPv4 frame with a partial checksum (the
// pseudo-header sum, as the kernel leaves it with CHECKSUM_PARTIAL) and
// checks that the completed checksum verifies.
func TestCompleteChecksum(t *testing.T) {
	payload := []byte("hello, overlay")
	f := make([]byte, 14+20+8+len(payload))
	binary.BigEndian.PutUint16(f[12:], EtherTypeIPv4)
	ip := f[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, 17
	copy(ip[12:], []byte{10, 32, 0, 1})
	copy(ip[16:], []byte{10, 32, 0, 2})
	udp := ip[20:]
	binary.BigEndian.PutUint16(udp[0:], 1234)
	binary.BigEndian.PutUint16(udp[2:], 5678)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(udp[8:], payload)
	pseudo := make([]byte, 0, 12)
	pseudo = append(pseudo, ip[12:20]...)
	pseudo = append(pseudo, 0, 17, byte((8+len(payload))>>8), byte(8+len(payload)))
	binary.BigEndian.PutUint16(udp[6:], Checksum(pseudo, 0))
	g := GSO{Flags: GSOFlagNeedsCsum, CsumStart: 34, CsumOffset: 6}
	if !CompleteChecksum(f, g) {
		t.Fatal("CompleteChecksum refused a valid frame")
	}
	if v := Checksum(udp, Checksum(pseudo, 0)); v != 0xffff {
		t.Errorf("UDP checksum does not verify: sum %#04x", v)
	}
	if CompleteChecksum(f, GSO{Flags: GSOFlagNeedsCsum, CsumStart: uint16(len(f) - 1), CsumOffset: 6}) {
		t.Error("CompleteChecksum accepted offsets past the frame")
	}
}

func TestGSOVirtioRoundTrip(t *testing.T) {
	g := GSO{Flags: GSOFlagNeedsCsum, Type: GSOTCPv4 | GSOECN, HdrLen: 66, Size: 1384, CsumStart: 34, CsumOffset: 16}
	var b [VirtioNetHdrSize]byte
	g.PutVirtio(b[:])
	if got := GSOFromVirtio(b[:]); got != g || !got.IsSuper() || got.IsZero() {
		t.Errorf("round trip = %+v, want %+v", got, g)
	}
	if (GSO{Flags: GSOFlagNeedsCsum}).IsSuper() {
		t.Error("a checksum-only GSO is not a super-frame")
	}
}

// The wire descriptor is the virtio layout with big-endian fields: the
// same bytes, the 16-bit fields swapped.
func TestGSOWireRoundTrip(t *testing.T) {
	g := GSO{Flags: GSOFlagNeedsCsum, Type: GSOUDPL4, HdrLen: 42, Size: 1400, CsumStart: 34, CsumOffset: 6}
	var w, v [GSOWireSize]byte
	g.PutWire(w[:])
	g.PutVirtio(v[:])
	want := [GSOWireSize]byte{1, GSOUDPL4, 0, 42, 0x05, 0x78, 0, 34, 0, 6}
	if w != want {
		t.Errorf("PutWire = %x, want %x", w, want)
	}
	for i := 2; i < GSOWireSize; i += 2 {
		if w[i] != v[i+1] || w[i+1] != v[i] {
			t.Errorf("field at %d: wire %x, virtio %x", i, w[i:i+2], v[i:i+2])
		}
	}
	if got := GSOFromWire(w[:]); got != g {
		t.Errorf("round trip = %+v, want %+v", got, g)
	}
}

func TestNewBatchSize(t *testing.T) {
	b := NewBatchSize(3, 10, MaxSuperFrameSize)
	if b.Cap() != 3 || len(b.Room(2)) != MaxSuperFrameSize || cap(b.Bufs[0]) != 10+MaxSuperFrameSize {
		t.Errorf("NewBatchSize: cap %d room %d", b.Cap(), len(b.Room(2)))
	}
	b.Sizes[1] = 5
	copy(b.Room(1), "abcde")
	if string(b.Frame(1)) != "abcde" {
		t.Errorf("Frame(1) = %q", b.Frame(1))
	}
}
