package ovs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/weave-switch/weave-switch/frame"
)

// The parts of the Open vSwitch generic netlink ABI (linux/openvswitch.h)
// this package encodes or decodes itself. go-odp does the rest (datapath,
// vport and flow commands).
//
// A message to or from an ovs_* family:
//
//	 0               4       6       8              12              16
//	+---------------+-------+-------+---------------+---------------+
//	| nlmsg_len     | type  | flags | seq           | pid           |  struct nlmsghdr
//	+-------+-------+-------+-------+---------------+---------------+
//	| cmd   | ver   | reserved      | dp_ifindex    |  genlmsghdr, ovs_header
//	+-------+-------+---------------+---------------+
//	| attributes: { len u16, type u16, value, padding to 4 } ...
const (
	nlmsgHdrLen   = 16
	genlHdrLen    = 4
	ovsHdrLen     = 4
	nlaHdrLen     = 4
	nlaTypeMask   = 0x3fff // strips NLA_F_NESTED and NLA_F_NET_BYTEORDER
	nlaFNested    = 0x8000
	genlIDCtrl    = 0x10 // GENL_ID_CTRL
	ctrlGetFamily = 3    // CTRL_CMD_GETFAMILY
	ctrlFamilyID  = 1    // CTRL_ATTR_FAMILY_ID
	ctrlFamilyNm  = 2    // CTRL_ATTR_FAMILY_NAME

	dpCmdGet      = 3 // OVS_DP_CMD_GET
	dpAttrName    = 1 // OVS_DP_ATTR_NAME
	dpAttrStats   = 3 // OVS_DP_ATTR_STATS: struct ovs_dp_stats
	dpVersion     = 2
	vportCmdSet   = 4 // OVS_VPORT_CMD_SET
	vportPortNo   = 1 // OVS_VPORT_ATTR_PORT_NO
	vportUpcall   = 5 // OVS_VPORT_ATTR_UPCALL_PID
	vportVersion  = 1
	packetCmdMiss = 1 // OVS_PACKET_CMD_MISS
	packetPacket  = 1 // OVS_PACKET_ATTR_PACKET
	packetKey     = 2 // OVS_PACKET_ATTR_KEY

	keyInPort   = 3  // OVS_KEY_ATTR_IN_PORT: u32
	keyEthernet = 4  // OVS_KEY_ATTR_ETHERNET: src[6], dst[6]
	keyTunnel   = 16 // OVS_KEY_ATTR_TUNNEL: nested
	tunID       = 0  // OVS_TUNNEL_KEY_ATTR_ID: be64
	tunIPv4Src  = 1
	tunIPv4Dst  = 2
)

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("malformed generic netlink message")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errMalformed, fmt.Sprintf(format, args...))
}

// attrs is a decoded attribute list: type (flags stripped) → value. The
// values alias the decoded buffer.
type attrs map[uint16][]byte

// parseAttrs decodes a netlink attribute list. A repeated type keeps the
// last value, as the kernel's nla_parse does.
func parseAttrs(b []byte) (attrs, error) {
	a := attrs{}
	for len(b) > 0 {
		if len(b) < nlaHdrLen {
			return nil, malformed("%d trailing bytes after the attributes", len(b))
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) & nlaTypeMask
		if l < nlaHdrLen || l > len(b) {
			return nil, malformed("attribute %d length %d out of range (%d bytes left)", t, l, len(b))
		}
		a[t] = b[nlaHdrLen:l]
		next := nlAlign(l)
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
	}
	return a, nil
}

func nlAlign(n int) int { return (n + 3) &^ 3 }

// appendAttr appends one attribute.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(nlaHdrLen+len(v)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func appendU32Attr(b []byte, typ uint16, v uint32) []byte {
	return appendAttr(b, typ, binary.NativeEndian.AppendUint32(nil, v))
}

// newGenlRequest builds a request to family with an ovs_header for
// dpIfindex (withOVSHeader) followed by attrs. The netlink flags and
// sequence number are filled in by genlConn.request; the length here.
func newGenlRequest(family uint16, cmd, version uint8, withOVSHeader bool, dpIfindex int32, attrs []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+genlHdrLen+ovsHdrLen+len(attrs))
	binary.NativeEndian.PutUint16(b[4:6], family)
	b = append(b, cmd, version, 0, 0)
	if withOVSHeader {
		b = binary.NativeEndian.AppendUint32(b, uint32(dpIfindex))
	}
	b = append(b, attrs...)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	return b
}

// parseFamilyID decodes a CTRL_CMD_NEWFAMILY reply payload (after the
// netlink header).
func parseFamilyID(p []byte) (uint16, error) {
	if len(p) < genlHdrLen {
		return 0, malformed("family reply of %d bytes", len(p))
	}
	a, err := parseAttrs(p[genlHdrLen:])
	if err != nil {
		return 0, err
	}
	v, ok := a[ctrlFamilyID]
	if !ok || len(v) != 2 {
		return 0, malformed("family reply without a 2-byte CTRL_ATTR_FAMILY_ID")
	}
	return binary.NativeEndian.Uint16(v), nil
}

// DatapathStats are the datapath's own counters (struct ovs_dp_stats):
// every frame that entered the datapath either hit a flow or missed;
// a missed frame whose upcall could not be queued is also lost.
type DatapathStats struct {
	Hit, Missed, Lost, Flows uint64
}

// parseDatapathStats decodes an OVS_DP_CMD_GET reply payload (after the
// netlink header).
func parseDatapathStats(p []byte) (DatapathStats, error) {
	if len(p) < genlHdrLen+ovsHdrLen {
		return DatapathStats{}, malformed("datapath reply of %d bytes", len(p))
	}
	a, err := parseAttrs(p[genlHdrLen+ovsHdrLen:])
	if err != nil {
		return DatapathStats{}, err
	}
	v, ok := a[dpAttrStats]
	if !ok || len(v) < 32 {
		return DatapathStats{}, malformed("datapath reply without OVS_DP_ATTR_STATS")
	}
	u := func(i int) uint64 { return binary.NativeEndian.Uint64(v[8*i:]) }
	return DatapathStats{Hit: u(0), Missed: u(1), Lost: u(2), Flows: u(3)}, nil
}

// upcall is one decoded OVS_PACKET_CMD_MISS: the frame and the parts of
// the kernel's flow key this package keys flows on. Packet aliases the
// received buffer.
type upcall struct {
	Dp     int32 // dp_ifindex of the datapath that missed
	Packet []byte
	InPort uint32
	Src    frame.MAC
	Dst    frame.MAC
	// Tunnel is set for frames that arrived over a tunnel vport.
	Tunnel bool
	TunID  uint64
	TunSrc netip.Addr
	TunDst netip.Addr
}

// parseUpcall decodes one generic netlink message (after the netlink
// header) of the ovs_packet family. It rejects anything but a miss with
// a packet, an in_port and an Ethernet key.
func parseUpcall(p []byte) (upcall, error) {
	var u upcall
	if len(p) < genlHdrLen+ovsHdrLen {
		return u, malformed("upcall of %d bytes", len(p))
	}
	if p[0] != packetCmdMiss {
		return u, malformed("packet command %d is not a miss", p[0])
	}
	u.Dp = int32(binary.NativeEndian.Uint32(p[genlHdrLen:]))
	a, err := parseAttrs(p[genlHdrLen+ovsHdrLen:])
	if err != nil {
		return u, err
	}
	pkt, ok := a[packetPacket]
	if !ok {
		return u, malformed("miss without OVS_PACKET_ATTR_PACKET")
	}
	u.Packet = pkt
	kb, ok := a[packetKey]
	if !ok {
		return u, malformed("miss without OVS_PACKET_ATTR_KEY")
	}
	k, err := parseAttrs(kb)
	if err != nil {
		return u, fmt.Errorf("flow key: %w", err)
	}
	v, ok := k[keyInPort]
	if !ok || len(v) != 4 {
		return u, malformed("flow key without a 4-byte in_port")
	}
	u.InPort = binary.NativeEndian.Uint32(v)
	if v, ok := k[keyEthernet]; ok {
		if len(v) != 12 {
			return u, malformed("ethernet key of %d bytes", len(v))
		}
		u.Src, u.Dst = frame.MAC(v[0:6]), frame.MAC(v[6:12])
	} else {
		return u, malformed("flow key without an ethernet key")
	}
	if tb, ok := k[keyTunnel]; ok {
		t, err := parseAttrs(tb)
		if err != nil {
			return u, fmt.Errorf("tunnel key: %w", err)
		}
		u.Tunnel = true
		if v, ok := t[tunID]; ok {
			if len(v) != 8 {
				return u, malformed("tunnel id of %d bytes", len(v))
			}
			u.TunID = binary.BigEndian.Uint64(v)
		}
		if u.TunSrc, err = tunnelAddr(t, tunIPv4Src); err != nil {
			return u, err
		}
		if u.TunDst, err = tunnelAddr(t, tunIPv4Dst); err != nil {
			return u, err
		}
	}
	return u, nil
}

// tunnelAddr returns the IPv4 address attribute typ of a tunnel key, or
// the zero Addr if absent.
func tunnelAddr(t attrs, typ uint16) (netip.Addr, error) {
	v, ok := t[typ]
	if !ok {
		return netip.Addr{}, nil
	}
	if len(v) != 4 {
		return netip.Addr{}, malformed("tunnel address of %d bytes", len(v))
	}
	return netip.AddrFrom4([4]byte(v)), nil
}
