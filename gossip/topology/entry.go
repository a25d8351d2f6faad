package topology

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
)

// Limits on an Entry, enforced by Validate and by the decoder so that a
// peer sending garbage cannot make us allocate much.
const (
	MaxConns     = 4096 // connections per entry
	MaxCaps      = 64   // capabilities per entry
	MaxStringLen = 255  // bytes in a nickname, address, capability key or value
)

const maxPeerName = 1<<48 - 1

// ErrInvalid is wrapped by every error Validate returns.
var ErrInvalid = errors.New("topology: invalid entry")

// Conn is one connection as its owner describes it in its Entry.
type Conn struct {
	Peer        frame.PeerName // the remote peer
	Addr        string         // underlay host:port of the remote as seen by the owner
	Outbound    bool           // the owner dialled it
	Established bool           // the data path answered (only these carry routes)
}

// Entry is the gossiped state of one peer. Only the peer named Name
// changes it (bumping Version each time); everyone else stores and relays
// the newest copy they have seen. Entries are values that share their Conns
// slice and Caps map: treat an Entry obtained from this package as
// read-only.
type Entry struct {
	Name     frame.PeerName
	Nickname string
	// UID is random per run of the owner.
	UID uint64
	// Incarnation is the owner's start time in unix nanoseconds: a
	// restarted peer has a larger one, which supersedes any Version of
	// the previous run.
	Incarnation uint64
	// Version is bumped by the owner on every change of its entry.
	Version uint64
	// Conns is sorted by Peer, without duplicates and without Name.
	Conns []Conn
	// Caps holds capabilities, transport parameters and public keys;
	// opaque to this package.
	Caps map[string]string
}

// stamp is the ordering key of an entry: (Incarnation, Version).
type stamp struct{ inc, ver uint64 }

func (e Entry) stamp() stamp { return stamp{e.Incarnation, e.Version} }

func (s stamp) cmp(o stamp) int {
	if c := cmp.Compare(s.inc, o.inc); c != 0 {
		return c
	}
	return cmp.Compare(s.ver, o.ver)
}

// Compare orders two entries of the same peer: by Incarnation, then by
// Version. It returns -1, 0 or +1; 0 means the entries are the same (the
// owner never reuses a (Incarnation, Version) pair for different content).
func Compare(a, b Entry) int { return a.stamp().cmp(b.stamp()) }

// Validate reports whether e respects the limits and invariants of an
// Entry (see the field docs and MaxConns, MaxCaps, MaxStringLen). Errors
// wrap ErrInvalid.
func (e *Entry) Validate() error {
	if e.Name == frame.UnknownPeer || e.Name > maxPeerName {
		return fmt.Errorf("%w: peer name %#x out of range", ErrInvalid, uint64(e.Name))
	}
	if len(e.Nickname) > MaxStringLen {
		return fmt.Errorf("%w: nickname of %d bytes exceeds %d", ErrInvalid, len(e.Nickname), MaxStringLen)
	}
	if len(e.Conns) > MaxConns {
		return fmt.Errorf("%w: %d connections exceed %d", ErrInvalid, len(e.Conns), MaxConns)
	}
	for i, c := range e.Conns {
		switch {
		case c.Peer == frame.UnknownPeer || c.Peer > maxPeerName:
			return fmt.Errorf("%w: connection %d: peer name %#x out of range", ErrInvalid, i, uint64(c.Peer))
		case c.Peer == e.Name:
			return fmt.Errorf("%w: connection %d: connection to itself", ErrInvalid, i)
		case i > 0 && c.Peer <= e.Conns[i-1].Peer:
			return fmt.Errorf("%w: connection %d: peers not sorted or duplicated (%v after %v)", ErrInvalid, i, c.Peer, e.Conns[i-1].Peer)
		case len(c.Addr) > MaxStringLen:
			return fmt.Errorf("%w: connection %d: address of %d bytes exceeds %d", ErrInvalid, i, len(c.Addr), MaxStringLen)
		}
	}
	if len(e.Caps) > MaxCaps {
		return fmt.Errorf("%w: %d capabilities exceed %d", ErrInvalid, len(e.Caps), MaxCaps)
	}
	for k, v := range e.Caps {
		if len(k) > MaxStringLen || len(v) > MaxStringLen {
			return fmt.Errorf("%w: capability %.16q: key or value exceeds %d bytes", ErrInvalid, k, MaxStringLen)
		}
	}
	return nil
}

// Clone returns a deep copy of e.
func (e Entry) Clone() Entry {
	e.Conns = slices.Clone(e.Conns)
	e.Caps = maps.Clone(e.Caps)
	return e
}

// Established reports whether e lists peer as an established connection.
func (e *Entry) Established(peer frame.PeerName) bool {
	i, ok := slices.BinarySearchFunc(e.Conns, peer, func(c Conn, p frame.PeerName) int { return cmp.Compare(c.Peer, p) })
	return ok && e.Conns[i].Established
}

// String formats e for logs: name(nickname) inc.ver and its connections.
func (e Entry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v(%s) %d.%d [", e.Name, e.Nickname, e.Incarnation, e.Version)
	for i, c := range e.Conns {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(c.Peer.String())
		if !c.Established {
			b.WriteByte('?')
		}
	}
	b.WriteByte(']')
	return b.String()
}

func sortConns(cs []Conn) {
	slices.SortFunc(cs, func(a, b Conn) int { return cmp.Compare(a.Peer, b.Peer) })
}
