package frame

import (
	"encoding/binary"
	"errors"
)

// Sizes of the Ethernet framing the data path deals with (no FCS, no 802.1Q
// accounting: a tagged frame is just 4 bytes longer).
const (
	EthernetHeaderSize = 14
	// MaxFrameSize bounds one frame (header included) anywhere in the data
	// path: a 9000-byte jumbo payload plus header and a VLAN tag.
	MaxFrameSize = 9000 + EthernetHeaderSize + 4
	// MaxSuperFrameSize bounds a GSO super-frame (GSO.IsSuper): a 64 KiB
	// IP packet plus Ethernet header and a VLAN tag.
	MaxSuperFrameSize = 65535 + EthernetHeaderSize + 4
)

// EtherTypes the data path looks at.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
	EtherTypeIPv6 = 0x86dd
)

// ErrShortFrame is returned for a frame shorter than an Ethernet header.
var ErrShortFrame = errors.New("frame shorter than an Ethernet header")

// Ethernet is a read-only view of an Ethernet frame: the bytes are the
// caller's and are not copied. Construct it with ParseEthernet, which checks
// the length once, so the accessors cannot panic.
type Ethernet []byte

// ParseEthernet returns a view of b, or ErrShortFrame.
func ParseEthernet(b []byte) (Ethernet, error) {
	if len(b) < EthernetHeaderSize {
		return nil, ErrShortFrame
	}
	return Ethernet(b), nil
}

// Dst returns the destination MAC.
func (e Ethernet) Dst() MAC { return MAC(e[0:6]) }

// Src returns the source MAC.
func (e Ethernet) Src() MAC { return MAC(e[6:12]) }

// EtherType returns the EtherType (or the 802.1Q TPID for a tagged frame).
func (e Ethernet) EtherType() uint16 { return binary.BigEndian.Uint16(e[12:14]) }

// Payload returns the bytes after the 14-byte header.
func (e Ethernet) Payload() []byte { return e[EthernetHeaderSize:] }
