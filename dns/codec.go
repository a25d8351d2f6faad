package dns

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
)

// Entry is one name to address mapping, registered on the router that
// owns it for one container (Key) or by dns-add.
type Entry struct {
	// Name is canonical: lower case, fully qualified.
	Name string
	Addr netip.Addr
	// Key names the container on its owner (a namespace path, a
	// container ID), or ManualKey for dns-add.
	Key string
}

func compareEntry(a, b Entry) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), a.Addr.Compare(b.Addr), strings.Compare(a.Key, b.Key))
}

// Register is one router's entries as the registry holds and gossips
// them: the whole set at a stamp, replaced whole by a greater one.
type Register struct {
	Owner frame.PeerName
	// Stamp is the owner's clock (milliseconds since the Unix epoch,
	// and past every earlier stamp of the owner) when it last changed
	// its entries.
	Stamp uint64
	// Gone marks a tombstone: the owner was removed (rmpeer) or gone
	// for long enough, and its entries up to Stamp are dropped.
	Gone bool
	// Entries are sorted by compareEntry and unique; none in a
	// tombstone.
	Entries []Entry
}

// The state encoding, one version byte then the registers in increasing
// owner order (the mesh puts the channel id in front):
//
//	version  1 byte (1)
//	count    2 bytes, big endian: registers
//	register count times:
//	  owner    6 bytes (the router's 48-bit name)
//	  stamp    8 bytes, big endian
//	  flags    1 byte: bit 0 tombstone, the others zero
//	  n        2 bytes, big endian: entries (0 in a tombstone)
//	  entry    n times, sorted, unique:
//	    name     1 byte of length, the canonical name (final dot)
//	    key      1 byte of length, the key (printable ASCII)
//	    family   1 byte: 4 or 6
//	    address  4 or 16 bytes
//
// The encoding of a state is canonical: decoding and encoding again gives
// the same bytes.
const stateVersion = 1

const (
	regHeaderSize   = frame.PeerNameSize + 8 + 1 + 2
	stateHeaderSize = 3
	flagGone        = 1
)

// MaxEntriesPerPeer bounds the entries of one router's register.
const MaxEntriesPerPeer = 1024

// MaxOwners bounds the registers (tombstones included) of a state.
const MaxOwners = 1024

func entrySize(e Entry) int {
	return 1 + len(e.Name) + 1 + len(e.Key) + 1 + e.Addr.BitLen()/8
}

func registerSize(r *Register) int {
	n := regHeaderSize
	for _, e := range r.Entries {
		n += entrySize(e)
	}
	return n
}

func appendRegister(b []byte, r *Register) []byte {
	var o [frame.PeerNameSize]byte
	r.Owner.Put(o[:])
	b = append(b, o[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Stamp)
	var fl byte
	if r.Gone {
		fl |= flagGone
	}
	b = append(b, fl)
	b = binary.BigEndian.AppendUint16(b, uint16(len(r.Entries)))
	for _, e := range r.Entries {
		b = append(b, byte(len(e.Name)))
		b = append(b, e.Name...)
		b = append(b, byte(len(e.Key)))
		b = append(b, e.Key...)
		if e.Addr.Is4() {
			b = append(b, 4)
		} else {
			b = append(b, 6)
		}
		b = append(b, e.Addr.AsSlice()...)
	}
	return b
}

// EncodeState encodes registers, which must be sorted by owner, valid
// and at most MaxOwners.
func EncodeState(regs []*Register) []byte {
	n := stateHeaderSize
	for _, r := range regs {
		n += registerSize(r)
	}
	b := make([]byte, 0, n)
	b = append(b, stateVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(regs)))
	for _, r := range regs {
		b = appendRegister(b, r)
	}
	return b
}

var errShort = errors.New("dns state: truncated")

// DecodeState parses an encoded state and checks every rule of the
// encoding: known version, at most MaxOwners registers in increasing
// owner order, none for the zero peer, flags known, at most
// MaxEntriesPerPeer entries in order and unique, none in a tombstone,
// canonical names, printable keys, addresses that can be registered, no
// byte after the last register. It refuses the state whole otherwise.
func DecodeState(b []byte) ([]*Register, error) {
	if len(b) < stateHeaderSize {
		return nil, errShort
	}
	if b[0] != stateVersion {
		return nil, fmt.Errorf("dns state: unknown version %d", b[0])
	}
	count := int(binary.BigEndian.Uint16(b[1:3]))
	if count > MaxOwners {
		return nil, fmt.Errorf("dns state: %d registers, more than %d", count, MaxOwners)
	}
	b = b[stateHeaderSize:]
	out := make([]*Register, 0, min(count, len(b)/regHeaderSize))
	for range count {
		if len(b) < regHeaderSize {
			return nil, errShort
		}
		r := &Register{Owner: frame.PeerNameFrom(b), Stamp: binary.BigEndian.Uint64(b[6:14])}
		fl := b[14]
		n := int(binary.BigEndian.Uint16(b[15:17]))
		b = b[regHeaderSize:]
		if r.Owner == frame.UnknownPeer {
			return nil, errors.New("dns state: a register of the zero peer")
		}
		if k := len(out); k > 0 && out[k-1].Owner >= r.Owner {
			return nil, fmt.Errorf("dns state: register of %s out of order", r.Owner)
		}
		if fl&^flagGone != 0 {
			return nil, fmt.Errorf("dns state: unknown flags 0x%02x", fl)
		}
		r.Gone = fl&flagGone != 0
		if r.Gone && n != 0 {
			return nil, fmt.Errorf("dns state: tombstone of %s with %d entries", r.Owner, n)
		}
		if n > MaxEntriesPerPeer {
			return nil, fmt.Errorf("dns state: %s has %d entries, more than %d", r.Owner, n, MaxEntriesPerPeer)
		}
		if n > 0 {
			r.Entries = make([]Entry, 0, min(n, len(b)/8))
		}
		for range n {
			var e Entry
			var err error
			if e, b, err = decodeEntry(b); err != nil {
				return nil, err
			}
			if k := len(r.Entries); k > 0 && compareEntry(r.Entries[k-1], e) >= 0 {
				return nil, fmt.Errorf("dns state: entries of %s out of order or repeated", r.Owner)
			}
			r.Entries = append(r.Entries, e)
		}
		out = append(out, r)
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("dns state: %d bytes after the registers", len(b))
	}
	return out, nil
}

func decodeEntry(b []byte) (Entry, []byte, error) {
	var e Entry
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return e, nil, errShort
	}
	e.Name, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
	if err := checkName(e.Name); err != nil {
		return e, nil, fmt.Errorf("dns state: name %q: %w", e.Name, err)
	}
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return e, nil, errShort
	}
	e.Key, b = string(b[1:1+int(b[0])]), b[1+int(b[0]):]
	if err := checkKey(e.Key); err != nil {
		return e, nil, fmt.Errorf("dns state: %w", err)
	}
	if len(b) < 1 {
		return e, nil, errShort
	}
	alen := 0
	switch b[0] {
	case 4:
		alen = 4
	case 6:
		alen = 16
	default:
		return e, nil, fmt.Errorf("dns state: unknown address family %d", b[0])
	}
	if len(b) < 1+alen {
		return e, nil, errShort
	}
	e.Addr, _ = netip.AddrFromSlice(b[1 : 1+alen])
	b = b[1+alen:]
	if err := checkAddr(e.Addr); err != nil {
		return e, nil, fmt.Errorf("dns state: %w", err)
	}
	return e, b, nil
}
