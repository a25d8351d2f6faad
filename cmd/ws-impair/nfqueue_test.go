package main

import (
	"encoding/binary"
	"testing"
)

// packetMsg is a NFQNL_MSG_PACKET as the kernel sends it, for id.
func packetMsg(id uint32) []byte {
	hdr := binary.BigEndian.AppendUint32(nil, id)
	hdr = append(hdr, 0x08, 0x00, 1) // hw_protocol, hook
	return message(msgPacket, 0, 0, 0, attr{5, []byte{1, 2, 3, 4}}, attr{attrPacketHdr, hdr})
}

func TestParsePackets(t *testing.T) {
	b := append(packetMsg(7), packetMsg(9)...)
	var got []uint32
	if err := parse(b, func(id uint32) { got = append(got, id) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 7 || got[1] != 9 {
		t.Fatalf("ids %v, want [7 9]", got)
	}
}

func TestParseError(t *testing.T) {
	ack := make([]byte, 36)
	binary.LittleEndian.PutUint32(ack, 36)
	binary.LittleEndian.PutUint16(ack[4:], nlmsgError)
	if err := parse(ack, func(uint32) {}); err != nil {
		t.Fatalf("an ack (code 0) is an error: %v", err)
	}
	binary.LittleEndian.PutUint32(ack[16:], uint32(0xffffffff)) // -1: EPERM
	if err := parse(ack, func(uint32) {}); err == nil {
		t.Fatal("an error message was not reported")
	}
}

func TestVerdictMsg(t *testing.T) {
	b := verdictMsg(3, 42)
	if n := binary.LittleEndian.Uint32(b); int(n) != len(b) || len(b) != 16+4+4+8 {
		t.Fatalf("verdict of %d bytes, header says %d", len(b), n)
	}
	if binary.BigEndian.Uint16(b[18:]) != 3 || binary.BigEndian.Uint32(b[24:]) != nfAccept || binary.BigEndian.Uint32(b[28:]) != 42 {
		t.Fatalf("verdict %x", b)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(packetMsg(1))
	f.Add(append(packetMsg(1), 0, 0))
	f.Add(bindMsg(1, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = parse(b, func(uint32) {})
	})
}
