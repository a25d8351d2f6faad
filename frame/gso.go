package frame

import "encoding/binary"

// VirtioNetHdrSize is the size of struct virtio_net_hdr, the header a TAP
// opened with IFF_VNET_HDR puts in front of every frame.
const VirtioNetHdrSize = 10

// Values of GSO.Flags and GSO.Type, as in linux/virtio_net.h.
const (
	GSOFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from CsumStart, stored at CsumStart+CsumOffset, is partial
	GSOFlagDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID

	GSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	GSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	GSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP (UFO, obsolete)
	GSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	GSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4 (USO)
	GSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN, or'ed into Type
)

// GSO is the offload information of one frame: a virtio_net_hdr as a
// value. The zero value means "an ordinary, fully checksummed frame".
// A frame with Type != GSONone is a super-frame: one TCP or UDP payload of
// up to 64 KiB that the receiving kernel cuts into Size-byte segments.
type GSO struct {
	Flags      uint8
	Type       uint8
	HdrLen     uint16 // Ethernet+IP+L4 header length (a hint)
	Size       uint16 // segment payload size (MSS)
	CsumStart  uint16 // offset from the frame start where checksumming starts
	CsumOffset uint16 // offset from CsumStart where the checksum is stored
}

// IsZero reports whether g carries no offload information.
func (g GSO) IsZero() bool { return g == GSO{} }

// IsSuper reports whether the frame is a GSO super-frame.
func (g GSO) IsSuper() bool { return g.Type&^GSOECN != GSONone }

// PutVirtio writes g as a little-endian virtio_net_hdr (the TAP's native
// layout on the little-endian machines Linux runs TAPs on) into b[:10].
func (g GSO) PutVirtio(b []byte) {
	_ = b[9]
	b[0] = g.Flags
	b[1] = g.Type
	binary.LittleEndian.PutUint16(b[2:], g.HdrLen)
	binary.LittleEndian.PutUint16(b[4:], g.Size)
	binary.LittleEndian.PutUint16(b[6:], g.CsumStart)
	binary.LittleEndian.PutUint16(b[8:], g.CsumOffset)
}

// GSOFromVirtio reads a little-endian virtio_net_hdr from b[:10].
func GSOFromVirtio(b []byte) GSO {
	_ = b[9]
	return GSO{
		Flags:      b[0],
		Type:       b[1],
		HdrLen:     binary.LittleEndian.Uint16(b[2:]),
		Size:       binary.LittleEndian.Uint16(b[4:]),
		CsumStart:  binary.LittleEndian.Uint16(b[6:]),
		CsumOffset: binary.LittleEndian.Uint16(b[8:]),
	}
}

// GSOWireSize is the size of the GSO descriptor the overlay transports
// carry in their headers: the fields of a virtio_net_hdr in its order,
// the 16-bit ones big endian.
//
//	Flags(1) Type(1) HdrLen(2) Size(2) CsumStart(2) CsumOffset(2)
const GSOWireSize = 10

// PutWire writes g as a GSO descriptor into b[:GSOWireSize].
func (g GSO) PutWire(b []byte) {
	_ = b[GSOWireSize-1]
	b[0] = g.Flags
	b[1] = g.Type
	binary.BigEndian.PutUint16(b[2:], g.HdrLen)
	binary.BigEndian.PutUint16(b[4:], g.Size)
	binary.BigEndian.PutUint16(b[6:], g.CsumStart)
	binary.BigEndian.PutUint16(b[8:], g.CsumOffset)
}

// GSOFromWire reads a GSO descriptor from b[:GSOWireSize]. Every value
// decodes; CheckGSO says whether it may go to a TAP with its frame.
func GSOFromWire(b []byte) GSO {
	_ = b[GSOWireSize-1]
	return GSO{
		Flags:      b[0],
		Type:       b[1],
		HdrLen:     binary.BigEndian.Uint16(b[2:]),
		Size:       binary.BigEndian.Uint16(b[4:]),
		CsumStart:  binary.BigEndian.Uint16(b[6:]),
		CsumOffset: binary.BigEndian.Uint16(b[8:]),
	}
}
