package alloc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/weave-switch/weave-switch/frame"
)

// Wire format of the gossiped state (version 1), all integers big endian,
// counts as uvarints:
//
//	+---------+-------------------+------+--------------------------+
//	| ver (1) | universe addr (4) | bits | seeds: n, n × name (6)   |
//	+---------+-------------------+------+--------------------------+
//	| entries: n, n × (token 4, owner 6, version 4, free 4)          |
//	+-----------------------------------------------------------------+
//	| members: n, n × member                                          |
//	+-----------------------------------------------------------------+
//
//	member: name 6, epoch 4, version 4, flags 1 (1 removed, 2 proposal, 4 ack),
//	        wants: n (≤ MaxWants), n × (addr 4, bits 1), [want seq 4 if n > 0],
//	        [proposal: seq 4, hash 8, dead: n (1..MaxDead), n × name 6],
//	        [ack: by 6, seq 4]
//
// Entries are in strictly ascending token order starting at the
// universe's start, members in strictly ascending name order, and nothing
// may follow the last member: every state has one encoding.

const wireVersion = 1

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed allocator state")

const (
	flagRemoved  = 1
	flagProposal = 2
	flagAck      = 4
)

// AppendState encodes s after b.
func AppendState(b []byte, s *State) []byte {
	r := s.Ring
	b = slices.Grow(b, 16+6*len(r.Seeds)+18*len(r.Entries)+48*len(s.Members))
	b = append(b, wireVersion)
	b = binary.BigEndian.AppendUint32(b, addrToU32(r.Universe.Addr()))
	b = append(b, byte(r.Universe.Bits()))
	b = binary.AppendUvarint(b, uint64(len(r.Seeds)))
	for _, p := range r.Seeds {
		b = appendName(b, p)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Entries)))
	for _, e := range r.Entries {
		b = binary.BigEndian.AppendUint32(b, e.Token)
		b = appendName(b, e.Owner)
		b = binary.BigEndian.AppendUint32(b, e.Version)
		b = binary.BigEndian.AppendUint32(b, e.Free)
	}
	names := s.memberNames()
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		b = appendMember(b, s.Members[n])
	}
	return b
}

func appendName(b []byte, p frame.PeerName) []byte {
	return append(b, byte(p>>40), byte(p>>32), byte(p>>24), byte(p>>16), byte(p>>8), byte(p))
}

func appendMember(b []byte, m *Member) []byte {
	b = appendName(b, m.Name)
	b = binary.BigEndian.AppendUint32(b, m.Epoch)
	b = binary.BigEndian.AppendUint32(b, m.Version)
	var flags byte
	if m.Removed {
		flags |= flagRemoved
	}
	if m.Proposal != nil {
		flags |= flagProposal
	}
	if m.Ack != nil {
		flags |= flagAck
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(m.Wants)))
	for _, w := range m.Wants {
		b = binary.BigEndian.AppendUint32(b, addrToU32(w.Addr()))
		b = append(b, byte(w.Bits()))
	}
	if len(m.Wants) > 0 {
		b = binary.BigEndian.AppendUint32(b, m.WantSeq)
	}
	if p := m.Proposal; p != nil {
		b = binary.BigEndian.AppendUint32(b, p.Seq)
		b = binary.BigEndian.AppendUint64(b, p.Hash)
		b = binary.AppendUvarint(b, uint64(len(p.Dead)))
		for _, d := range p.Dead {
			b = appendName(b, d)
		}
	}
	if a := m.Ack; a != nil {
		b = appendName(b, a.By)
		b = binary.BigEndian.AppendUint32(b, a.Seq)
	}
	return b
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	d.b = nil
}

func (d *decoder) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if len(d.b) < n {
		d.fail("truncated %s", what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8(what string) byte {
	if v := d.take(1, what); v != nil {
		return v[0]
	}
	return 0
}

func (d *decoder) u32(what string) uint32 {
	if v := d.take(4, what); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64(what string) uint64 {
	if v := d.take(8, what); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (d *decoder) name(what string) frame.PeerName {
	if v := d.take(frame.PeerNameSize, what); v != nil {
		p := frame.PeerNameFrom(v)
		if p == frame.UnknownPeer {
			d.fail("zero peer name in %s", what)
		}
		return p
	}
	return 0
}

// count reads a count of at most limit items of at least minSize bytes.
func (d *decoder) count(what string, limit, minSize int) int {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad %s count", what)
		return 0
	}
	if n != uvarintLen(v) {
		d.fail("non-canonical %s count", what)
		return 0
	}
	d.b = d.b[n:]
	if v > uint64(limit) || v*uint64(minSize) > uint64(len(d.b)) {
		d.fail("%d %s: too many", v, what)
		return 0
	}
	return int(v)
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}

func (d *decoder) prefix(what string) netip.Prefix {
	a := d.u32(what)
	bits := d.u8(what)
	if d.err != nil {
		return netip.Prefix{}
	}
	if bits > 32 {
		d.fail("%s: prefix length %d", what, bits)
		return netip.Prefix{}
	}
	p := netip.PrefixFrom(u32ToAddr(a), int(bits))
	if p.Masked() != p {
		d.fail("%s: %s has host bits set", what, p)
	}
	return p
}

// DecodeState decodes and validates a state encoded by AppendState. Every
// error wraps ErrMalformed.
func DecodeState(b []byte) (*State, error) {
	d := &decoder{b: b}
	if v := d.u8("version"); d.err == nil && v != wireVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrMalformed, v, wireVersion)
	}
	u := d.prefix("universe")
	if d.err == nil {
		if err := checkPrefix(u); err != nil {
			d.fail("universe: %v", err)
		}
	}
	r := &Ring{Universe: u}
	n := d.count("seeds", MaxSeeds, frame.PeerNameSize)
	for i := 0; i < n && d.err == nil; i++ {
		p := d.name("seed")
		if i > 0 && p <= r.Seeds[i-1] {
			d.fail("seeds not in ascending order")
		}
		r.Seeds = append(r.Seeds, p)
	}
	if d.err == nil && n == 0 {
		d.fail("no seeds")
	}
	n = d.count("entries", MaxEntries, 18)
	end := uint64(0)
	if d.err == nil {
		end = prefixSpan(u).hi
	}
	for i := 0; i < n && d.err == nil; i++ {
		e := Entry{Token: d.u32("token"), Owner: d.name("owner"), Version: d.u32("version"), Free: d.u32("free")}
		switch {
		case d.err != nil:
		case i == 0 && e.Token != addrToU32(u.Addr()):
			d.fail("first token %s is not the universe's start", u32ToAddr(e.Token))
		case i > 0 && e.Token <= r.Entries[i-1].Token:
			d.fail("tokens not in ascending order")
		case uint64(e.Token) >= end:
			d.fail("token %s outside the universe", u32ToAddr(e.Token))
		}
		r.Entries = append(r.Entries, e)
	}
	if d.err == nil && n == 0 {
		d.fail("no entries")
	}
	// Free may exceed its range: a peer can hold a newer token that cut
	// the range before the owner's updated count reached it. It is a hint;
	// readers clamp it.
	s := &State{Ring: r, Members: map[frame.PeerName]*Member{}}
	n = d.count("members", MaxMembers, 16)
	var last frame.PeerName
	for i := 0; i < n && d.err == nil; i++ {
		m := d.member()
		if d.err == nil && i > 0 && m.Name <= last {
			d.fail("members not in ascending order")
		}
		last = m.Name
		s.Members[m.Name] = m
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail("%d bytes after the state", len(d.b))
	}
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

func (d *decoder) member() *Member {
	m := &Member{Name: d.name("member"), Epoch: d.u32("epoch"), Version: d.u32("member version")}
	flags := d.u8("flags")
	if flags&^(flagRemoved|flagProposal|flagAck) != 0 {
		d.fail("unknown member flags %#x", flags)
	}
	m.Removed = flags&flagRemoved != 0
	n := d.count("wants", MaxWants, 5)
	for i := 0; i < n && d.err == nil; i++ {
		m.Wants = append(m.Wants, d.prefix("want"))
	}
	if n > 0 {
		m.WantSeq = d.u32("want seq")
	}
	if flags&flagProposal != 0 {
		p := &Proposal{Seq: d.u32("proposal seq"), Hash: d.u64("proposal hash")}
		k := d.count("dead peers", MaxDead, frame.PeerNameSize)
		if d.err == nil && k == 0 {
			d.fail("proposal without dead peers")
		}
		for i := 0; i < k && d.err == nil; i++ {
			p.Dead = append(p.Dead, d.name("dead peer"))
			if i > 0 && p.Dead[i] <= p.Dead[i-1] {
				d.fail("dead peers not in ascending order")
			}
		}
		m.Proposal = p
	}
	if flags&flagAck != 0 {
		m.Ack = &Ack{By: d.name("ack"), Seq: d.u32("ack seq")}
	}
	if m.Removed && (m.Proposal != nil || m.Ack != nil || len(m.Wants) > 0) {
		d.fail("removed member %s with a proposal, ack or wants", m.Name)
	}
	return m
}
