package sleeve

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// RekeyGrace is how long, after SetKeys replaces a peer's receive key, the
// previous one is still accepted: datagrams the peer sealed before it
// switched keys, still in flight or queued, are not lost.
const RekeyGrace = 30 * time.Second

// maxRetiredKeys bounds the memory of removed keys (see SetKeys).
const maxRetiredKeys = 4096

var (
	// ErrNoKey is wrapped by Send on an encrypting Sleeve when no send key
	// is set for the destination address (SetKeys).
	ErrNoKey = errors.New("no encryption key for the destination")
	// ErrKeyExhausted is wrapped by Send when the send key for the
	// destination has used up its counters (about 2^64 datagrams): a new
	// key (a new handshake) is needed.
	ErrKeyExhausted = errors.New("encryption key exhausted: rekey")
)

// sendKey is a send key with its counter: the next counter to seal with.
// The counter only grows, so no nonce is used twice under the key.
type sendKey struct {
	key    [32]byte
	cipher Cipher
	aead   cipher.AEAD
	next   atomic.Uint64
}

// recvKey is a receive key with its replay window.
type recvKey struct {
	key    [32]byte
	cipher Cipher
	aead   cipher.AEAD
	window replayWindow
}

// peerRecv are the receive keys of one sender: the current one and,
// during the grace period after a rekey, the previous one. Immutable once
// in a keyTable.
type peerRecv struct {
	cur, prev *recvKey
	prevUntil time.Time // prev is refused from then on
}

// keyTable is an immutable snapshot of the keys, swapped through
// Sleeve.keys.table: send keys by destination address, receive keys by
// sender. Lookups allocate nothing; the key objects it points to carry the
// only mutable state (counters, replay windows), shared across snapshots.
type keyTable struct {
	send map[netip.AddrPort]*sendKey
	recv map[frame.PeerName]*peerRecv
}

// peerKeys is the keys of one peer, as SetKeys left them: the mutable
// master copy a keyTable is built from, guarded by Sleeve.keys.mu.
type peerKeys struct {
	addr netip.AddrPort // invalid: receive only
	send *sendKey
	recv peerRecv
}

// keyring is a Sleeve's keys: the table the data path reads, and what
// SetKeys and RemoveKeys need to rebuild it.
type keyring struct {
	table atomic.Pointer[keyTable] // read by Send and receive, never nil after init

	mu    sync.Mutex // serialises SetKeys and RemoveKeys; guards the fields below
	peers map[frame.PeerName]*peerKeys
	// Keys removed (or replaced past their grace), with the next counter:
	// a send key installed again resumes its counter, a receive key
	// refuses what it accepted before. Bounded by maxRetiredKeys.
	retiredSend map[[32]byte]uint64
	retiredRecv map[[32]byte]uint64
}

func (kr *keyring) init() {
	kr.table.Store(&keyTable{})
	kr.peers = make(map[frame.PeerName]*peerKeys)
	kr.retiredSend = make(map[[32]byte]uint64)
	kr.retiredRecv = make(map[[32]byte]uint64)
}

// SetKeys is SetCipherKeys with ChaCha20Poly1305.
func (s *Sleeve) SetKeys(peer frame.PeerName, addr netip.AddrPort, send, recv [32]byte) error {
	return s.SetCipherKeys(peer, addr, ChaCha20Poly1305, send, recv)
}

// SetCipherKeys installs the data keys of the connection with peer, as the
// control-plane handshake derived them (handshake.Conn.DataKeys), for
// cipher c (both ends must use the same: see NegotiateCipher): send
// seals what this Sleeve sends to addr, recv opens what arrives from peer
// (the sender named in the datagram header, whatever its source address,
// which NAT may rewrite). addr is peer's sleeve endpoint, the address Send
// is given for it, IPv4-mapped addresses unmapped; an invalid addr
// installs the receive key only. If another peer had addr, it loses it
// (Send to addr uses peer's key).
//
// Calling it again for peer rekeys it: a new send key is used from the
// next Send on; a new receive key becomes current and the previous one is
// still accepted for RekeyGrace. Keys equal to the ones installed, with
// the same cipher, keep their state, so the call may be repeated (to
// change addr, say); a new cipher makes new keys. Counters are never
// reused under a key: one installed again after RemoveKeys resumes where
// it stopped (for the last 4096 keys removed), and its replay window
// refuses what it accepted before. Fresh keys for every connection are
// still the rule.
//
// It returns an error, and changes nothing, if peer is UnknownPeer,
// Config.Self or wider than 48 bits, if c is not a cipher (CipherAuto is
// not), or if a key is all zero or both are equal. It is safe for
// concurrent use with every other method; Sends and receives in progress
// finish with the keys they started with.
func (s *Sleeve) SetCipherKeys(peer frame.PeerName, addr netip.AddrPort, c Cipher, send, recv [32]byte) error {
	switch {
	case !c.valid():
		return fmt.Errorf("sleeve: SetKeys %v: invalid cipher %v", peer, c)
	case peer == frame.UnknownPeer || peer>>48 != 0:
		return fmt.Errorf("sleeve: SetKeys: invalid peer %#x", uint64(peer))
	case peer == s.cfg.Self:
		return fmt.Errorf("sleeve: SetKeys: peer %v is this router", peer)
	case send == [32]byte{} || recv == [32]byte{}:
		return fmt.Errorf("sleeve: SetKeys %v: zero key (an unencrypted connection?)", peer)
	case send == recv:
		return fmt.Errorf("sleeve: SetKeys %v: send and receive keys are equal", peer)
	}
	addr = unmapAddrPort(addr)
	kr := &s.keys
	kr.mu.Lock()
	defer kr.mu.Unlock()
	now := s.now()
	pk := kr.peers[peer]
	if pk == nil {
		pk = &peerKeys{}
		kr.peers[peer] = pk
	}
	if addr.IsValid() {
		for name, o := range kr.peers {
			if name != peer && o.addr == addr {
				o.addr = netip.AddrPort{}
			}
		}
	}
	pk.addr = addr
	if pk.send == nil || pk.send.key != send || pk.send.cipher != c {
		old := pk.send
		pk.send = kr.newSendKeyLocked(c, send)
		kr.retireSendLocked(old)
	}
	r := &pk.recv
	switch {
	case r.cur != nil && r.cur.key == recv && r.cur.cipher == c:
		// Unchanged.
	case r.prev != nil && r.prev.key == recv && r.prev.cipher == c && now.Before(r.prevUntil):
		// Back to the previous key: swap.
		r.cur, r.prev = r.prev, r.cur
		r.prevUntil = now.Add(RekeyGrace)
	default:
		kr.retireRecvLocked(r.prev)
		r.prev, r.prevUntil = r.cur, now.Add(RekeyGrace)
		r.cur = kr.newRecvKeyLocked(c, recv)
	}
	kr.publishLocked()
	return nil
}

// MoveEndpoint makes to peer's sleeve endpoint: what Send seals for to
// uses peer's send key from now on, and its previous address has no key.
// The data path calls it when peer proved it sends from to (a NAT mapped
// it anew). A peer without keys (a Sleeve that does not encrypt) needs
// nothing and MoveEndpoint does nothing. If another peer had to, it loses
// it, as with SetKeys. It is safe for concurrent use.
func (s *Sleeve) MoveEndpoint(peer frame.PeerName, to netip.AddrPort) error {
	to = unmapAddrPort(to)
	if !to.IsValid() || to.Port() == 0 {
		return fmt.Errorf("sleeve: MoveEndpoint %v: invalid address %v", peer, to)
	}
	kr := &s.keys
	kr.mu.Lock()
	defer kr.mu.Unlock()
	pk := kr.peers[peer]
	if pk == nil || pk.addr == to {
		return nil
	}
	for name, o := range kr.peers {
		if name != peer && o.addr == to {
			o.addr = netip.AddrPort{}
		}
	}
	pk.addr = to
	kr.publishLocked()
	return nil
}

// RemoveKeys forgets the keys of peer, both directions, at once (no
// grace): Send to its address fails with ErrNoKey, its datagrams are
// dropped (DropNoKey). It is safe for concurrent use.
func (s *Sleeve) RemoveKeys(peer frame.PeerName) {
	kr := &s.keys
	kr.mu.Lock()
	defer kr.mu.Unlock()
	pk := kr.peers[peer]
	if pk == nil {
		return
	}
	delete(kr.peers, peer)
	kr.retireSendLocked(pk.send)
	kr.retireRecvLocked(pk.recv.cur)
	kr.retireRecvLocked(pk.recv.prev)
	kr.publishLocked()
}

// newSendKeyLocked returns the send key object for key and c: the one
// already in use (for another peer) if any, so that they share its
// counter, or a new one that resumes a retired counter (retired counters
// are by key only: a key back with another cipher still never reuses a
// nonce).
func (kr *keyring) newSendKeyLocked(c Cipher, key [32]byte) *sendKey {
	for _, pk := range kr.peers {
		if pk.send != nil && pk.send.key == key && pk.send.cipher == c {
			return pk.send
		}
	}
	k := &sendKey{key: key, cipher: c, aead: newAEAD(c, key)}
	if next, ok := kr.retiredSend[key]; ok {
		k.next.Store(next)
		delete(kr.retiredSend, key)
	}
	return k
}

// newRecvKeyLocked is newSendKeyLocked for a receive key and its window.
func (kr *keyring) newRecvKeyLocked(c Cipher, key [32]byte) *recvKey {
	for _, pk := range kr.peers {
		for _, k := range [2]*recvKey{pk.recv.cur, pk.recv.prev} {
			if k != nil && k.key == key && k.cipher == c {
				return k
			}
		}
	}
	k := &recvKey{key: key, cipher: c, aead: newAEAD(c, key)}
	if next, ok := kr.retiredRecv[key]; ok {
		k.window.resume(next)
		delete(kr.retiredRecv, key)
	}
	return k
}

func (kr *keyring) retireSendLocked(k *sendKey) {
	if k != nil {
		retire(kr.retiredSend, k.key, k.next.Load())
	}
}

func (kr *keyring) retireRecvLocked(k *recvKey) {
	if k != nil {
		retire(kr.retiredRecv, k.key, k.window.next())
	}
}

// retire records the next counter of key, keeping the larger if it is
// there already (a key shared by two peers), and bounds m by dropping an
// arbitrary entry.
func retire(m map[[32]byte]uint64, key [32]byte, next uint64) {
	if old, ok := m[key]; ok {
		m[key] = max(old, next)
		return
	}
	if len(m) >= maxRetiredKeys {
		for k := range m {
			delete(m, k)
			break
		}
	}
	m[key] = next
}

// publishLocked builds a new table from kr.peers and swaps it in.
func (kr *keyring) publishLocked() {
	t := &keyTable{
		send: make(map[netip.AddrPort]*sendKey, len(kr.peers)),
		recv: make(map[frame.PeerName]*peerRecv, len(kr.peers)),
	}
	for name, pk := range kr.peers {
		if pk.addr.IsValid() {
			t.send[pk.addr] = pk.send
		}
		r := pk.recv
		t.recv[name] = &r
	}
	kr.table.Store(t)
}

// unmapAddrPort unmaps an IPv4-mapped address, as ParseEndpoint does.
func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	if a := ap.Addr(); a.Is4In6() {
		return netip.AddrPortFrom(a.Unmap(), ap.Port())
	}
	return ap
}

// sendKeyFor returns the send key for dst, or nil.
func (t *keyTable) sendKeyFor(dst netip.AddrPort) *sendKey {
	return t.send[unmapAddrPort(dst)]
}

// seal numbers and seals the datagrams of st with k, in place in the
// arena: each st.bufs[i] is header(8) with FlagEncrypted, room for the
// counter, the plaintext after the header (or room for it, copied from
// st.dgs[i].src while sealing) and room for the tag. The counters are taken
// in one block, just before the datagrams are written, so that concurrent
// Sends to one peer stay close together for the receiver's window.
func (st *sendState) seal(k *sendKey) error {
	n := uint64(len(st.dgs))
	if k.next.Load() > maxCounter-n {
		return ErrKeyExhausted
	}
	end := k.next.Add(n)
	if end > maxCounter || end < n {
		return ErrKeyExhausted
	}
	ctr := end - n
	const hl = HeaderSize + CounterSize
	for i := range st.dgs {
		d, b := &st.dgs[i], st.bufs[i]
		binary.BigEndian.PutUint64(b[HeaderSize:hl], ctr)
		binary.BigEndian.PutUint64(st.nonce[4:], ctr)
		src := d.src
		if src == nil {
			src = b[hl : len(b)-TagSize]
		}
		k.aead.Seal(b[hl:hl], st.nonce[:], src, b[:hl])
		d.src = nil
		ctr++
	}
	return nil
}

// open authenticates and decrypts the encrypted datagram d (version and
// FlagEncrypted checked by the caller) with the receive keys of its
// sender, into out (at least len(d) bytes, not overlapping d), and returns
// the plaintext datagram in out: d's header with FlagEncrypted cleared,
// then what follows the header in a plaintext datagram. Otherwise it
// returns the reason to drop d and the value for its DecodeError. The
// current key is tried first, then, during its grace, the previous one:
// opening into out leaves d intact for the second try. The replay window
// of the key that opened d is checked last, so only authentic counters
// move it. now is the time of the receive. nonce is scratch. It allocates
// nothing.
func (t *keyTable) open(d, out []byte, nonce *[12]byte, now time.Time) (plain []byte, reason DropReason, val int) {
	const hl = HeaderSize + CounterSize
	switch {
	case len(d) < hl+TagSize:
		return nil, DropAuth, len(d)
	case len(d)-EncryptionOverhead > len(out):
		return nil, DropOversize, len(d)
	}
	sender := frame.PeerNameFrom(d[2:])
	pr := t.recv[sender]
	if pr == nil {
		return nil, DropNoKey, int(sender)
	}
	ctr := binary.BigEndian.Uint64(d[HeaderSize:hl])
	binary.BigEndian.PutUint64(nonce[4:], ctr)
	ad, ct := d[:hl], d[hl:]
	dst := out[HeaderSize:HeaderSize]
	k := pr.cur
	p, err := k.aead.Open(dst, nonce[:], ct, ad)
	if err != nil && pr.prev != nil && now.Before(pr.prevUntil) {
		k = pr.prev
		p, err = k.aead.Open(dst, nonce[:], ct, ad)
	}
	if err != nil {
		return nil, DropAuth, len(d)
	}
	if !k.window.check(ctr) {
		return nil, DropReplay, int(ctr)
	}
	copy(out, d[:HeaderSize])
	out[1] &^= FlagEncrypted
	return out[:HeaderSize+len(p)], dropNone, 0
}
