// Package quictransport implements the QUIC transport (directory
// transport/quic): overlay frames travel as RFC 9221 DATAGRAM frames on
// one QUIC connection (github.com/quic-go/quic-go) per peer link,
// authenticated by mutual TLS 1.3 with certificates pinned through the
// control plane. It implements transport.Transport.
//
// # Lifecycle
//
// New makes a Transport and its certificate (Config.Certificate, or an
// ephemeral Ed25519 one; LoadOrCreateCert keeps one in the data directory,
// files 0600), with no I/O. The control plane announces CertHash (the
// SHA-256 of the leaf DER) and calls AddPeer(name, hash, endpoint, dial) for
// each peer it learns, RemovePeer when it goes; peers added before Open
// are only recorded. Open binds one UDP socket (default 0.0.0.0:6784)
// carrying one quic.Transport that both listens and dials, opens each
// peer's path MTU socket and starts the dial loops.
// For each link one side dials (AddPeer's dial: the control plane makes
// the side that dialled the control connection dial, since the other may
// be behind NAT), the other accepts from wherever the peer's connection
// comes (a connection from a peer that should have been dialed is
// closed), and, while it has none, sends a byte to the peer's endpoint
// every PMTUInterval, opening its own NAT, if any, for the dial; the
// dialer reconnects after a failure with a backoff that
// doubles from 50 ms up to Config.MaxBackoff, and QUIC keep-alives
// (Config.KeepAlive, 5 s) hold idle links open. Close closes every
// connection with CONNECTION_CLOSE, the listener and the socket, makes the
// ReceiveFunc return an error that Is net.ErrClosed, and waits for every
// goroutine: the accept loop, one dial loop per peer this side dials, and
// one reader per connection.
//
// # Pinning
//
// There is no CA. Both sides present a certificate (the server requires
// one: tls.RequireAnyClientCert) and both check the other's leaf against
// the pins: the client, which knows whom it dials, requires the hash given
// to AddPeer for that peer; the server requires the hash of some added
// peer, and the connection is then that peer's. The client sets
// InsecureSkipVerify, which only turns off the CA chain check: it is
// always paired with a VerifyPeerCertificate callback enforcing the pin,
// and crypto/tls still verifies the TLS 1.3 CertificateVerify signature,
// so the peer proves it holds the pinned certificate's private key. ALPN
// "weave-switch/1" is required. A refused handshake is counted
// (Stats.Refused, and Stats.DialErrors on the dialing side) and logged,
// rate-limited; no frame of an unpinned peer is ever delivered. Meta.Via of
// every received frame is the name of the peer whose pinned certificate
// authenticated the connection, never a claim from the datagram.
//
// # Datagram format
//
// Each DATAGRAM payload is an overlay header followed by an Ethernet frame,
// or (FlagFragment) by a piece of one. Integers are big endian.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                                                               |
//	+    src PeerName (6 bytes)     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                               |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    dst PeerName (6 bytes)     +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -.
//	|0 0 0 0 0 0 F G|   GSO Flags   |   GSO Type    |    HdrLen     |  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  | GSO
//	|   (HdrLen)    |     Size      |   CsumStart   |  CsumOffset   |  | (10, if G)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
//	| (CsumOffset)  |                                                -'
//	+-+-+-+-+-+-+-+-+                                                -.
//	|           id (uint32), offset (uint32), total (uint32)        |  | fragment
//	|                                                               |  | (12, if F)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -'
//	|   Ethernet frame (no FCS), or bytes [offset, offset+n) of one  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
//	datagram := src(6) dst(6) flags(1) [gso(10)] [id(4) offset(4) total(4)] data
//
// src is the peer that captured the frame (Meta.Src), dst the peer it is
// for or 00:00:00:00:00:00 when flooded (Meta.Dst). G = FlagGSO (0x01):
// the GSO descriptor (frame.GSO: Flags, Type, then HdrLen, Size,
// CsumStart, CsumOffset as uint16) follows; a sender sets it only for a
// frame with a non-zero Meta.GSO. F = FlagFragment (0x02): the datagram
// carries bytes [offset, offset+len(data)) of frame number id (per sender)
// of total bytes; src, dst and gso repeat in every fragment. Other flag
// bits, a truncated header, a frame outside 14..frame.MaxSuperFrameSize
// bytes, or a fragment with no data, total outside that range or
// offset+len(data) > total are malformed (Decode; Stats.DropMalformed).
// The header is at most MaxHeaderSize (35) bytes, written into the batch
// headroom (transport.MaxOverhead is 64).
//
// Fragments. A frame that does not fit the connection's current maximum
// DATAGRAM payload (quic-go reports it in DatagramTooLargeError, which
// Send remembers per link and re-probes every 256 oversized frames) is
// cut into fragments of that maximum (internal/fragment): a 64 KiB GSO
// super-frame is about 48 datagrams. Each connection's reader reassembles
// up to 4 frames at a time, in any order (internal/reassembly), in
// frame.MaxSuperFrameSize buffers from a pool of 64 shared by the
// Transport and allocated as needed; a buffer goes back to the pool once
// the ReceiveFunc has copied its frame. What the reassembly drops
// (evicted, timed out after 1 s, duplicate, no buffer free...) is counted
// in Stats.FrameDrops by reason and in Stats.DropReassembly. Fragments of a
// lost datagram are never retransmitted: the whole frame is lost, as with
// IP fragmentation.
//
// # MTU and Overhead
//
// quic-go never sends a UDP payload above 1452 bytes and reserves 40 of a
// packet for its short header, AEAD tag and the DATAGRAM frame header. Its
// path MTU discovery starts at 1280 and converges within 21 bytes of 1452,
// so once it has (within seconds) a DATAGRAM of at least 1391 bytes fits
// (1404 measured on loopback; 1412 at most). With our 23-byte header (GSO
// descriptor included), frames of up to MaxWholeFrame = 1368 bytes go in
// one datagram:
//
//	+----------------+-------------------+----------------+----------+-------------+
//	| IPv6 40/IPv4 20| UDP 8 (+20 unused | QUIC short hdr,| overlay  | Ether 14 +  |
//	|                |  on IPv4)         | tag, DATAGRAM  | hdr 23   | IP packet   |
//	|                | + 21 PMTUD slack  | hdr: 40        |          |             |
//	+----------------+-------------------+----------------+----------+-------------+
//	'------------------------ Overhead() = 132 ------------------------'
//
// so on a 1500-byte underlay the overlay MTU is 1500 - 132 - 14 = 1354.
// Until discovery converges (the first packets after connecting), frames
// above 1217 bytes go as two fragments instead: delivered, just slower.
// A bigger underlay MTU does not help: quic-go stays at 1452.
//
// Connection IDs are 17 bytes (connectionIDLength) rather than quic-go's
// 4, so that a packet carrying a maximum-size piece is exactly a full
// packet: quic-go continues a UDP GSO batch only after a full-size packet,
// and with 4-byte IDs every packet would be 13 bytes short, so every
// packet would cost a sendmsg of its own.
//
// # Queues and drops
//
// No queue here is unbounded. Send writes the header in front of each
// frame and calls Conn.SendDatagram, which copies the payload into
// quic-go's per-connection send queue of 32 DATAGRAM frames; quic-go
// v0.65 does not drop there: SendDatagram blocks until the queue has room
// (congestion control paces it) or the connection closes, so Send blocks
// on a slow link. Each connection has one reader goroutine that calls
// ReceiveDatagram, decodes the header and pushes the frame (the slice
// quic-go allocated, not copied) into the Transport's bounded receive
// ring (Config.ReceiveQueue, 1024 frames) with a one-slot notification;
// the ReceiveFunc copies frames from it into the caller's batch.
//
// quic-go drops once 128 received datagrams wait in its own queue, and
// tells no one: the sender's QUIC saw the packet acknowledged. Under load
// on few cores a reader waiting to be scheduled loses datagrams there,
// each costing TCP inside a whole 64 KiB super-frame. So quic-go
// reads the socket through groConn (groconn.go), which turns UDP_GRO on
// (a sender's GSO batch arrives as one message: one recvmmsg for ~40
// packets instead of 8) and holds quic-go's socket reader back at a gate
// (gate.go) while about gateLimit packets are between the socket and our
// readers: later packets wait in the kernel's socket buffer, and if that
// overflows, QUIC sees the loss and slows the sender.
// The drops that remain (and a queued datagram that no longer fits a
// packet) quic-go reports only as qlog events, so each connection has a
// trace that counts those events and nothing else (trace.go:
// DropQUICReceive, DropQUICSend).
// Every drop is counted by reason in Stats: DropNoPeer, DropNoConn (Send fails with ErrNoPeer or
// ErrNoConnection), DropTooLarge, DropSendError (connection closed during
// Send), DropMalformed, DropReassembly, DropQueueFull, DropTooBig (frame
// bigger than the caller's buffer: receivers of super-frames need
// frame.NewBatchSize(n, offset, frame.MaxSuperFrameSize)).
//
// # Allocations
//
// The header encoder and decoder do not allocate (tested), and Send
// allocates nothing of its own on success (fragment headers overwrite and
// restore the frame bytes in front of each piece, saved on the stack).
// quic-go allocates per datagram: SendDatagram copies the payload into a
// new DATAGRAM frame, every received datagram is a new slice, and the qlog
// trace (trace.go) builds an event per packet and frame. BenchmarkRoundTrip
// (sender and receiver in one process, batches of 32 frames) measures
// about 9 allocations per 64-byte frame and 15 per 1400-byte frame (two
// datagrams) end to end, all in quic-go.
package quictransport
