package frame

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// PeerName is the 48-bit identity of a router, written like a MAC address
// (aa:bb:cc:dd:ee:ff). It is carried in the overlay header as 6 bytes, big
// endian. The zero value, UnknownPeer, means "no particular peer": a frame
// whose destination peer is UnknownPeer is flooded.
type PeerName uint64

// UnknownPeer is the zero PeerName.
const UnknownPeer PeerName = 0

// PeerNameSize is the encoded size of a PeerName.
const PeerNameSize = 6

const peerNameMask = 1<<48 - 1

// String formats n as aa:bb:cc:dd:ee:ff.
func (n PeerName) String() string {
	var b [PeerNameSize]byte
	n.Put(b[:])
	return formatColon(b[:])
}

// Put writes n into b[:6]. It panics if len(b) < 6.
func (n PeerName) Put(b []byte) {
	_ = b[5]
	b[0] = byte(n >> 40)
	b[1] = byte(n >> 32)
	b[2] = byte(n >> 24)
	b[3] = byte(n >> 16)
	b[4] = byte(n >> 8)
	b[5] = byte(n)
}

// PeerNameFrom reads a PeerName from b[:6]. It panics if len(b) < 6.
func PeerNameFrom(b []byte) PeerName {
	_ = b[5]
	return PeerName(b[0])<<40 | PeerName(b[1])<<32 | PeerName(b[2])<<24 |
		PeerName(b[3])<<16 | PeerName(b[4])<<8 | PeerName(b[5])
}

// ParsePeerName parses aa:bb:cc:dd:ee:ff. The all-zero name is refused: it
// is reserved for UnknownPeer.
func ParsePeerName(s string) (PeerName, error) {
	var b [PeerNameSize]byte
	if err := parseColon(s, b[:]); err != nil {
		return 0, fmt.Errorf("invalid peer name %q: %w", s, err)
	}
	n := PeerNameFrom(b[:])
	if n == UnknownPeer {
		return 0, fmt.Errorf("invalid peer name %q: the all-zero name is reserved", s)
	}
	return n, nil
}

// PeerNameFromSeed derives a stable, locally administered unicast PeerName
// from seed (for example the machine id), so that a host keeps its name
// across restarts without configuration.
func PeerNameFromSeed(seed []byte) PeerName {
	sum := sha256.Sum256(seed)
	sum[0] = sum[0]&0xfe | 0x02 // unicast, locally administered
	n := PeerName(binary.BigEndian.Uint64(sum[:8])>>16) & peerNameMask
	if n == UnknownPeer {
		n = 0x020000000001
	}
	return n
}
