// Package sleeve is the UDP transport: Weave's "sleeve" overlay, batched,
// optionally encrypted. Frames travel between peers in UDP datagrams on
// port 6783: several small frames packed into one datagram, a frame bigger
// than a datagram (such as a 64 KiB TCP super-frame from a TAP with
// offloads) cut into sleeve fragments. With Config.Encrypt every datagram
// is sealed with AES-256-GCM or ChaCha20-Poly1305, chosen per link, under
// per-peer keys from the control plane (see Encryption). It implements
// transport.Transport.
//
// # Wire format
//
// A datagram (the UDP payload) is an 8-byte header followed by either one
// or more frames, each behind a frame header, or (FlagFragment) one
// fragment of a frame. All integers are big endian.
//
//	datagram    := header { frameHeader [gso] frame }+        (flags & 0x02 == 0)
//	             | header fragHeader [gso] data               (flags & 0x02 != 0)
//	header      := version(1) = 1 | flags(1) | sender PeerName(6)
//	frameHeader := src PeerName(6) | dst PeerName(6) | len uint16
//	fragHeader  := src PeerName(6) | dst PeerName(6) | id uint32 | offset uint32 | total uint32
//	gso         := Flags(1) | Type(1) | HdrLen uint16 | Size uint16 | CsumStart uint16 | CsumOffset uint16
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  version = 1  |0 0 0 0 0 E F G|                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    sender PeerName (6 bytes)  +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -.
//	|                                                               |  |
//	+    src PeerName (6 bytes)     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
//	|                               |                               |  | frame
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    dst PeerName (6 bytes)     +  | header
//	|                                                               |  | (14)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
//	|         len (uint16)          |   GSO Flags   |   GSO Type    | -+
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  | GSO
//	|            HdrLen             |             Size              |  | descriptor
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  | (10, only
//	|           CsumStart           |          CsumOffset           |  | if G)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -'
//	|         Ethernet frame: len bytes, no FCS, 14 <= len <= 9018  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  more frame headers and frames, up to the end of the datagram |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// sender is the peer that sent the datagram (the previous hop: receivers set
// Meta.Via from it, so a peer is known by name even behind NAT). src is the
// peer that captured the frame from its bridge (Meta.Src: switches learn MACs
// from it); dst is the destination peer, or 00:00:00:00:00:00 for a flooded
// frame (Meta.Dst). This is Weave's sleeve format with a version and flags
// byte in front of the sender name.
//
// The flags byte:
//
//   - G = FlagGSO (0x01): every frame header (or the fragment header) is
//     followed by a 10-byte GSO descriptor, Meta.GSO: the fields of the
//     virtio_net_hdr the sending TAP reported (frame.GSO), which the
//     receiving router hands to its own TAP so that its kernel completes
//     the checksum or segments the super-frame. The sleeve carries it
//     unchanged and does not check it. A sender sets G only when a frame of
//     the datagram has a non-zero GSO: a datagram of ordinary frames keeps
//     the compact format.
//   - F = FlagFragment (0x02): the datagram carries one fragment of a frame
//     too big for a datagram.
//   - E = FlagEncrypted (0x04): the rest of the datagram is sealed (see
//     Encryption); opened, it is a datagram as above, with F and G as in
//     the header.
//   - Any other bit makes the datagram malformed.
//
// A fragment datagram:
//
//	+--------+----------------------------------------------+---------+--------------+
//	| header | src(6) dst(6) id(4) offset(4) total(4) = 24  | gso(10) | data         |
//	| F set  |                                              | if G    | 1.. bytes    |
//	+--------+----------------------------------------------+---------+--------------+
//
// data is bytes [offset, offset+len(data)) of a frame of total bytes, with
// 14 <= total <= frame.MaxSuperFrameSize and offset+len(data) <= total. id
// numbers the sender's fragmented frames (from a random start); src, dst,
// total and gso are the same in every fragment of a frame. The receiver
// reassembles per (underlay sender address, sender, id) and delivers the
// frame, with its Meta, once every byte has arrived.
//
// A datagram is valid only as a whole: Reader.Reset and Decode check every
// header before handing out any frame, so a datagram with one bad frame is
// dropped entirely (all or nothing). A valid datagram is at most
// MaxDatagramSize bytes.
//
// # Overhead and MTU
//
// On an IPv4 underlay, a datagram carrying one frame costs at most
//
//	+---------+-------+----------+--------------+--------+----------+-------------------+
//	| IPv4 20 | UDP 8 | header 8 | frame hdr 14 | GSO 10 | Ether 14 | overlay IP packet |
//	+---------+-------+----------+--------------+--------+----------+-------------------+
//	'---------------------- Overhead() = 60 --------------------'
//
// so with a 1500-byte underlay MTU the overlay MTU (the bridge's IP MTU) is
// 1500 - 60 - 14 = 1426, and a frame of that MTU always fits one datagram,
// offload information included. On an IPv6 underlay the IP header is 40
// bytes and Overhead is 80.
//
// The sender packs consecutive frames of a batch into one datagram while it
// stays within the packing limit, UnderlayMTU - 28 bytes (IPv4 + UDP; -48
// for an IPv6 destination). A frame too big for a datagram of its own is cut
// into fragment datagrams of exactly the limit, the last one shorter: at MTU
// 1500 a 64 KiB super-frame with a GSO descriptor is 46 fragments of up to
// 1430 bytes. The sleeve never relies on IP fragmentation: it builds no
// datagram bigger than the limit (if UnderlayMTU is set above the real path
// MTU, IP may still fragment; see Stats.GSOErrors).
//
// With Config.Encrypt, every datagram is EncryptionOverhead (24) bytes
// longer: Overhead is 84 on IPv4 (104 on IPv6) and the overlay MTU on a
// 1500-byte underlay 1402; the packing limit is 24 bytes smaller, so that
// no sealed datagram exceeds UnderlayMTU - 28 (a 64 KiB super-frame with a
// GSO descriptor is 47 fragments of up to 1472 bytes on the wire). Weave's
// NaCl sleeve has 1414, without offload information.
//
// # Encryption
//
// An encrypted datagram (FlagEncrypted set) keeps the 8-byte header in
// clear, then a counter, then the ciphertext of everything that follows
// the header in the plaintext datagram, then the 16-byte tag, under the
// link's cipher: AES-256-GCM (NIST SP 800-38D) or ChaCha20-Poly1305 (RFC
// 8439). Both have 12-byte nonces and 16-byte tags, so the layout is the
// same; nothing on the wire names the cipher, the receive key does:
//
//	encrypted := header counter ciphertext tag
//	header    := version(1) = 1 | flags(1), E set | sender PeerName(6)
//	counter   := uint64, big endian
//	nonce     := 4 zero bytes | counter                (12 bytes, not sent)
//	AD        := header | counter                      (16 bytes, authenticated)
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -.
//	|  version = 1  |0 0 0 0 0 1 F G|                               |  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    sender PeerName (6 bytes)  +  |
//	|                                                               |  | in clear,
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  | authenticated
//	|                                                               |  | (AD, 16)
//	+                  counter (uint64, big endian)                 +  |
//	|                                                               |  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -+
//	|                                                               |  |
//	:  frame headers [gso] and frames, or fragment header [gso] and :  | encrypted,
//	:  data: the plaintext datagram after its header                :  | authenticated
//	|                                                               |  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -'
//	|                                                               |
//	+                                                               +
//	|            tag: GCM or Poly1305 (16 bytes)                    |
//	+                                                               +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Ciphers. Each router announces the ciphers it accepts (CapCiphers, in
// its control-handshake Hello, which travels sealed under keys only
// holders of the mesh password can derive, so nobody on the path can
// change it) and both ends of a link apply the same symmetric rule to the
// two lists (NegotiateCipher): AES-256-GCM if both accept it, else
// ChaCha20-Poly1305. With Config.Cipher auto, a router accepts
// AES-256-GCM only where the CPU has AES and carry-less multiplication
// instructions (HasHardwareAES: there Go's AES-GCM is constant time and
// several times faster than ChaCha20-Poly1305), so a link uses it when
// both ends have them. An explicit Config.Cipher is the only cipher the
// router accepts: a peer without it gets no link (Link.Add fails, both
// ends say why). A router that announces no ciphers speaks
// ChaCha20-Poly1305. AES-256-GCM keeps an attacker's advantage under
// 2^-32 for about 2^48 blocks (4 PiB) per key; keys are new for every
// control connection.
//
// Keys. The control-plane handshake (gossip/handshake, Conn.DataKeys)
// derives two fresh 32-byte keys per connection, one per direction; the
// daemon installs them, for the link's cipher, with SetCipherKeys(peer,
// addr, cipher, send, recv) (Link.Add does) and removes them with
// RemoveKeys. Send finds the send key by the destination
// address, the next hop's endpoint (all Send knows); the receiver finds
// the receive key by the sender named in the header, not by the source
// address, which NAT may rewrite. The keys live in an immutable table
// swapped atomically on every change, with one cipher.AEAD built per key
// in SetKeys: the data path reads it without a lock and allocates nothing.
//
// Counters. A send key's 64-bit counter only grows: each flush takes a
// block of counters (one atomic add) for its datagrams and seals them just
// before the sendmmsg, so no nonce is used twice under a key; Send fails
// with ErrKeyExhausted before the counter reaches 2^64-2^16, and a key
// installed again after RemoveKeys resumes its counter. Every datagram is
// sealed on its own: each fragment and each GSO segment is a datagram of
// its own, and equal-sized plaintext datagrams seal to equal-sized
// datagrams, so a run of them still goes as one UDP_SEGMENT send and comes
// back through GRO. Sealing writes into the send arena: packed datagrams
// and fragments are built there with room for the counter and the tag and
// sealed in place; a frame sent alone is sealed from the batch (its frame
// header in the headroom) straight into the arena, so the caller's frame
// is read once and left intact.
//
// Receiving. A datagram with E is opened before it is decoded, into a
// buffer of the ReceiveFunc, not in place: a failed Open clears its output,
// and the ciphertext must survive to be tried under the previous key.
// Refused datagrams are dropped and counted in Stats.Dropped, never
// returned as errors: DropPlaintext (a datagram without E, to a Sleeve
// with Config.Encrypt), DropNoKey (no receive key for the sender),
// DropAuth (the tag does not verify: wrong or outdated key, tampered,
// truncated, forged) and DropReplay. A Sleeve without Config.Encrypt
// sends plaintext but still opens datagrams from senders it has a key for.
//
// Replay window. Each receive key remembers the newest counter it
// accepted and the ReplayWindow (8128) counters before it, in an 8192-bit
// ring (RFC 6479, as wireguard-go). A counter seen already, or more than
// ReplayWindow behind the newest, is dropped (DropReplay); reordering
// within the window is accepted. The window is checked and moved only
// after a successful Open, so forged counters cannot move it. It is as
// wide as wireguard-go's because concurrent Sends to one peer take blocks
// of up to 2*BatchSize+512 counters and may reach the wire in another
// order. Each window has its own mutex: a Sleeve has one ReceiveFunc,
// called from one goroutine at a time, so the lock is never contended;
// it keeps the window correct should several ReceiveFuncs share a key.
//
// Rekeying is SetKeys with new keys: the next Send uses the new send key;
// the new receive key becomes current and the previous one stays valid
// for RekeyGrace (30 s), so datagrams the peer sealed before it switched
// still open (a datagram the current key refuses is tried under it, each
// key with its own window). Datagrams sealed under a new key that arrive
// before its SetKeys are refused (DropAuth): install keys as soon as the
// handshake completes.
//
// What an attacker on the path can and cannot do. It cannot read frames
// or their overlay headers (src, dst, GSO information, fragment ids and
// offsets); it cannot forge, modify, truncate or extend a datagram, nor
// change its header or counter (all authenticated: DropAuth); it cannot
// inject plaintext into an encrypting Sleeve (DropPlaintext), replay a
// datagram that was delivered or is older than the window (DropReplay),
// move the window with forged counters, or reflect a router's datagrams
// back to it (they name it as sender, and SetKeys refuses keys for Self).
// It can see the header (that this is the sleeve, the sending peer's
// name, whether the datagram is a fragment or carries offload
// information), the counter (so the number of datagrams per key), and
// sizes and timing: nothing is padded. It can drop, delay and reorder
// datagrams (delivering late, once, a datagram it held back, as long as
// it is within the window); it can rewrite the source address, which is
// not authenticated: the Endpoint a ReceiveFunc reports is a hint, and
// must not decide where to send (the router accepts a frame only from the
// endpoint its control plane registered for the neighbour the header
// names; without encryption that check is all that keeps out a datagram
// with a forged sender name, and a forged source address defeats it; Send
// to an address without keys fails closed with ErrNoKey). It can flood: each
// garbage datagram costs one failed Open (two during a rekey grace) before
// it is dropped. Encryption is per link, hop by hop, like Weave's: a peer
// that relays frames opens and seals them again, and sees them.
//
// # Offloads: UDP GSO and GRO (Linux)
//
// Open probes UDP GSO (getsockopt UDP_SEGMENT) and enables UDP GRO
// (setsockopt UDP_GRO); Stats.GSO and Stats.GRO say what it got, and
// WEAVE_DEBUG_SLEEVE_NO_GSO=1 and WEAVE_DEBUG_SLEEVE_NO_GRO=1 turn them off.
// With GSO, Send hands runs of equal-sized datagrams to the kernel as one
// sendmmsg message with a UDP_SEGMENT control message (up to 64 segments
// and 64 KiB; the last segment may be shorter): the fragments of a
// super-frame, or a batch of full-sized frames. A short datagram, such as a
// fragmented frame's tail, may ride at the end of the next message, after
// fragments of the following frame that complete nothing, so that frames
// still complete in order and a stream of 64 KiB super-frames takes about
// one message each. Several messages go in one sendmmsg. The messages are
// built and sent by the UDP writer WireGuard and QUIC share
// (internal/udpbatch), which also merges datagrams adjacent in memory into
// one iovec. If the kernel refuses a UDP_SEGMENT message with EIO, EINVAL,
// ENOPROTOOPT or EOPNOTSUPP (no checksum offload on the egress device,
// xfrm, no support) and a plain send then works, GSO is turned off for the
// socket (logged once, counted in Stats.GSOErrors) and the same datagrams
// go one per message; EMSGSIZE (a segment above the path MTU) falls back
// for that send only. With GRO, one receive buffer may hold many datagrams of a peer; the
// UDP_GRO control message gives their size and the receiver splits them.
//
// # Batching and memory
//
// Send writes a single-frame datagram's headers in place, in the batch's
// headroom (at least 32 bytes; transport.MaxOverhead is 64), and hands the
// buffer to sendmmsg (no copy); packed datagrams and fragments are copied
// into a preallocated 512 KiB scratch arena per concurrent Send (one copy of
// each super-frame), flushed when full. Up to min(max(GOMAXPROCS, 2), 8)
// send states exist, about 650 KiB each (the arena and about 190 bytes for
// each of 2*BatchSize+512 datagram slots).
//
// Each ReceiveFunc owns its receive buffers: with GRO, 64 messages of
// 64 KiB (4 MiB); without, BatchSize buffers of MaxDatagramSize+1 bytes
// (1.1 MiB at 128); and one MaxDatagramSize buffer that encrypted
// datagrams are opened into. It reads them with one recvmmsg, and frames are copied
// into the caller's batch. It also owns a reassembly pool of 32 slots of
// frame.MaxSuperFrameSize bytes with a bitmap of received bytes (2.3 MiB):
// a fragment whose bytes all arrived already (duplicate) or partly
// (overlap) is dropped; a reassembly untouched for 1 s is discarded at the
// next receive; when all slots are busy the least recently touched is
// evicted. All are counted in Stats.FrameDrops. So a ReceiveFunc with GRO
// holds about 6.3 MiB.
//
// A frame bigger than the room in the caller's batch buffer
// (len(b.Bufs[i]) - b.Offset) is dropped and counted
// (FrameDropTooBig): a router that receives super-frames must use
// frame.NewBatchSize(n, offset, frame.MaxSuperFrameSize). Frames of
// datagrams already read that do not fit in the caller's batch are kept and
// returned by the next call. Neither path allocates in steady state.
//
// # Path MTU
//
// Datagrams are built for UnderlayMTU (default 1500). When a UDP GSO send
// fails with EMSGSIZE (a segment is bigger than the route's MTU, or than
// a path MTU the kernel learned from ICMP), the sleeve reads the path MTU
// to that peer from the kernel (IP_MTU on a connected probe socket) and
// builds datagrams for it from then on (pmtu.go); frames that no longer fit
// go as the sleeve's own fragments, so nothing relies on IP fragmentation
// and nothing is dropped silently. Learned values expire after 10 minutes
// and show in Stats.PathMTU.
package sleeve
