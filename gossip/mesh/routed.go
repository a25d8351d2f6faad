package mesh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/weave-switch/weave-switch/frame"
)

// Routed messages (type msgRouted) travel from one router to another that
// need not be a neighbour: each router on the way hands the message to its
// next hop towards the destination by the routes of the topology, over
// the authenticated control connections, and drops it when its hop count
// runs out. Hole punching (punch.go) is their use: a router asks a peer
// it reaches only through others to punch with it now, and the peer
// answers.
//
// Wire format, big endian:
//
//	dst   6 bytes  peer name the message is for
//	src   6 bytes  peer name that sent it
//	ttl   1 byte   hops left; a router forwards a message only while it is above 1
//	kind  1 byte   routedCall or routedAnswer
//	id    4 bytes  the call's id; an answer echoes it
//	n     1 byte   number of candidates, at most maxCandidates
//	n times:
//	  flags 1 byte  candLocal: the sender's own address; else one a peer observed
//	  len   1 byte  4 or 16
//	  addr  len bytes
//	  port  2 bytes
const (
	routedCall   = 1 // "call me maybe": the sender's candidates; punch with me now
	routedAnswer = 2 // the answer to a call: the answerer's candidates; punching

	routedTTL     = 16
	maxCandidates = 8
	// maxForwarded bounds the routed messages a router forwards for
	// others, a second.
	maxForwarded = 64

	candLocal = 1 // flag: an address of the sender's own interfaces
)

// candidate is an address:port a router may be reached at by a punch.
type candidate struct {
	addr  netip.AddrPort
	local bool // the router's own address, not one a peer observed
}

type routed struct {
	dst, src frame.PeerName
	ttl      uint8
	kind     uint8
	id       uint32
	cands    []candidate
}

const routedHeader = 2*frame.PeerNameSize + 1 + 1 + 4 + 1

func (r *routed) encode() []byte {
	b := make([]byte, routedHeader, routedHeader+len(r.cands)*20)
	r.dst.Put(b[0:])
	r.src.Put(b[6:])
	b[12] = r.ttl
	b[13] = r.kind
	binary.BigEndian.PutUint32(b[14:], r.id)
	n := min(len(r.cands), maxCandidates)
	b[18] = byte(n)
	for _, c := range r.cands[:n] {
		var flags byte
		if c.local {
			flags = candLocal
		}
		a := c.addr.Addr().Unmap()
		b = append(b, flags, byte(a.BitLen()/8))
		b = append(b, a.AsSlice()...)
		b = binary.BigEndian.AppendUint16(b, c.addr.Port())
	}
	return b
}

var errRoutedShort = errors.New("routed message: truncated")

// decodeRouted parses a routed message. It refuses anything malformed:
// unknown kinds, too many candidates, addresses of another length than
// 4 or 16 bytes, unspecified or IPv4-mapped addresses, port 0, trailing
// bytes.
func decodeRouted(b []byte) (routed, error) {
	var r routed
	if len(b) < routedHeader {
		return r, errRoutedShort
	}
	r.dst = frame.PeerNameFrom(b[0:])
	r.src = frame.PeerNameFrom(b[6:])
	r.ttl, r.kind = b[12], b[13]
	r.id = binary.BigEndian.Uint32(b[14:])
	n := int(b[18])
	if r.dst == frame.UnknownPeer || r.src == frame.UnknownPeer {
		return r, errors.New("routed message: no destination or source")
	}
	if r.kind != routedCall && r.kind != routedAnswer {
		return r, fmt.Errorf("routed message: unknown kind %d", r.kind)
	}
	if n > maxCandidates {
		return r, fmt.Errorf("routed message: %d candidates (at most %d)", n, maxCandidates)
	}
	b = b[routedHeader:]
	for range n {
		if len(b) < 2 {
			return r, errRoutedShort
		}
		flags, l := b[0], int(b[1])
		if l != 4 && l != 16 {
			return r, fmt.Errorf("routed message: address of %d bytes", l)
		}
		if flags&^candLocal != 0 {
			return r, fmt.Errorf("routed message: unknown candidate flags %#x", flags)
		}
		if len(b) < 2+l+2 {
			return r, errRoutedShort
		}
		a, _ := netip.AddrFromSlice(b[2 : 2+l])
		port := binary.BigEndian.Uint16(b[2+l:])
		if a.IsUnspecified() || port == 0 || a.Is4In6() {
			return r, errors.New("routed message: unspecified or IPv4-mapped candidate address, or port 0")
		}
		r.cands = append(r.cands, candidate{addr: netip.AddrPortFrom(a, port), local: flags&candLocal != 0})
		b = b[2+l+2:]
	}
	if len(b) != 0 {
		return r, fmt.Errorf("routed message: %d trailing bytes", len(b))
	}
	return r, nil
}

// sendRouted hands a routed message to the next hop towards r.dst. It
// reports false when the routes reach r.dst through no connection.
// Runs on the actor.
func (m *Mesh) sendRouted(r *routed, except frame.PeerName) bool {
	if m.applied == nil {
		return false
	}
	hop, ok := m.applied.NextHop(r.dst)
	if !ok || hop == except {
		return false
	}
	c := m.conns[hop]
	if c == nil {
		return false
	}
	m.send(c, msgRouted, r.encode())
	return true
}

// handleRouted takes a routed message from neighbour from: it forwards
// one for another router (within the hop count and the forwarding rate)
// and hands one for us to punching. Runs on the actor.
func (m *Mesh) handleRouted(from frame.PeerName, msg []byte) {
	r, err := decodeRouted(msg)
	if err != nil {
		m.routedLog.Log(slog.LevelWarn, "routed message refused", "peer", from.String(), "err", err)
		return
	}
	if r.dst != m.cfg.Self {
		if r.ttl <= 1 || r.src == m.cfg.Self {
			return
		}
		if ok, _ := m.forwardLimit.Allow(); !ok {
			m.routedLog.Log(slog.LevelWarn, "routed messages dropped: forwarding rate exceeded", "peer", from.String())
			return
		}
		r.ttl--
		m.sendRouted(&r, from)
		return
	}
	m.handleCall(&r)
}
