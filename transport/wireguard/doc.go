// Package wireguard is the WireGuard transport: overlay frames ride inside
// a real wireguard-go device (golang.zx2c4.com/wireguard/device: Noise IK
// handshake, cookies, rekeying, replay protection, all the library's own
// code), driven through an in-process tun.Device (no kernel TUN) and
// wireguard-go's StdNetBind (batched UDP). It implements
// transport.Transport, plus AddPeer/RemovePeer/PublicKey for the control
// plane.
//
// # Encapsulation
//
// Every peer has a link address, fd77:7773::<48-bit PeerName> (the name in
// the last 6 bytes; see PeerAddr). A frame for next hop N becomes one IPv6
// packet from our link address to N's, which the device's cryptokey
// routing (allowed IP fd77:7773::<N>/128 for N's public key) encrypts to N:
//
//	UDP payload = WireGuard transport message:
//	+------------------------------+------------------------------------------------+-----+
//	| type/receiver/counter (16)   | encrypted: IPv6 packet + padding to 16 (0..15) | tag |
//	+------------------------------+------------------------------------------------+-----+
//	IPv6 packet:
//	+-----------------------------------+--------------------------------+---------+-------+
//	| IPv6 header (40)                  | overlay header (14)            | gso(10) | frame |
//	| src fd77:7773::<sender> (= Via)   | version(1)=1 flags(1)          | if G    |       |
//	| dst fd77:7773::<next hop>         | src PeerName(6) dst PeerName(6)|         |       |
//	| next header 253, hop limit 64     |                                |         |       |
//	+-----------------------------------+--------------------------------+---------+-------+
//
// Next header 253 is the RFC 3692 experimental value: the payload is our
// overlay header followed by the Ethernet frame, which neither 143
// (Ethernet, RFC 8986) nor 97 (EtherIP) describes. Flags: G = FlagGSO
// (0x01), set exactly when Meta.GSO is non-zero, followed by the GSO
// descriptor (Flags, Type, then HdrLen, Size, CsumStart, CsumOffset as big
// endian uint16s, as in the sleeve); F = FlagFragment (0x02), followed
// (after any GSO descriptor) by a fragment descriptor: frame id, byte
// offset and the frame's total length as big-endian uint32s, the packet
// then carrying bytes [offset, offset+len) of the frame; any other bit is
// malformed. src and
// dst are Meta.Src and Meta.Dst (UnknownPeer for a flooded frame). The
// receiver sets Meta.Via from the IPv6 source (which wireguard-go has
// already checked against the sending peer's allowed IP) and eps[i] to
// that peer's endpoint given to AddPeer.
//
// # Super-frames, path MTU and overhead
//
// Every WireGuard message fits one UDP datagram on the peer's path: a
// frame whose packet would be bigger than PacketSize(path MTU) (1440 bytes
// on a 1500-byte path) is cut into pieces of one size, a multiple of 16 so
// that WireGuard pads none of them, and the last may be shorter. Their
// messages are consecutive and of one size, so wireguard-go's StdNetBind
// sends them as one UDP GSO batch, and the receiver's UDP GRO hands them
// back in a few reads; the receiving Transport puts the frame back together
// (internal/reassembly: any order, duplicates and overlaps refused, one
// second to complete, 32 frames at a time) and delivers it whole, so a
// 64 KiB TCP super-frame from the TAP crosses as one unit and is written
// to the far TAP as one. Nothing is IP-fragmented: fragmenting a 64 KiB
// datagram in the kernel cost three times as much CPU per byte as the
// pieces do, and losing one IP fragment lost the whole frame.
//
// The path MTU of each peer is the kernel's: a connected UDP socket per
// peer reads IP_MTU (IPV6_MTU) at AddPeer and every Config.PMTUInterval.
// The kernel lowers it on an ICMP "fragmentation needed"/"packet too big"
// (wireguard-go's socket lets the kernel set DF) and when the route's
// interface MTU drops, so pieces shrink within PMTUInterval after the path
// narrows, and the overlay MTU of the containers never has to change.
// Until then a too-big datagram is fragmented by the kernel, not dropped.
// PathMTU reports it per peer; Config.UnderlayMTU (1500) caps it.
//
// The TUN MTU given to wireguard-go is TunMTU (65472); receivers accept a
// whole frame of up to MaxWholeFrame in one packet. Send takes frames of up
// to MaxFrameSize (frame.MaxSuperFrameSize). Overhead() is IPv4 20 + UDP 8
// + WireGuard 32 + padding 15 + IPv6 40 + overlay 14 + GSO 10 = 139 (159
// if Listen is IPv6): a frame of the overlay MTU always fits one packet.
//
// # Keys
//
// Each peer has a Curve25519 key pair: LoadOrCreateKey keeps the private
// key in the data directory (base64 as `wg genkey` writes it, mode 0600),
// Config.PrivateKey takes it, and PublicKey() is what the control plane
// sends over its authenticated channel; the receiving side calls AddPeer
// with it. Users never write a WireGuard configuration.
//
// # The first handshake
//
// Both ends of a connection (or of a punch) add each other at about the
// same moment. Were both devices to initiate then, each would answer the
// other's initiation and drop the answer to its own, and no session would
// exist until wireguard-go's retry five seconds later. So the peer with
// the smaller name initiates at once (its keepalive starts with the
// peer), and the other sends a one-byte opener datagram to the peer's
// endpoint, which opens its own NAT or stateful firewall to the peer and
// which any device drops unread (it is shorter than every WireGuard
// message), then stays silent towards the peer: frames are dropped and
// counted (Stats.TxAwaiting) and the keepalive is off until data from the
// peer shows a session, or Config.InitiateDelay (1 s) passes and the
// keepalive starts, with a handshake of its own if the peer's never came
// (its NAT dropped it before the opener went out). Stats.Initiations
// counts the handshake initiations sent.
//
// # Data path and lifecycle
//
// New does no I/O: PublicKey works at once, and peers added before Open
// are only recorded. Open creates the device (its goroutines), binds the
// UDP socket (in the network namespace of the calling thread), brings the
// device up and configures the recorded peers. Send hands its batch to
// the device's TUN reader through a bounded queue (txQueueLen requests;
// when full the batch is dropped and counted) and returns once the frames
// are encoded into the device's buffers (one copy, nothing allocated per
// frame). The device's TUN writes (decrypted packets, one goroutine per
// peer) go through a bounded queue to the single ReceiveFunc, which
// decodes them straight into its batch; a full queue drops and counts.
// A device write waits until the ReceiveFunc has taken its packets, so a
// receiver that stops reading stalls the device's per-peer receive
// goroutines (until Close). Close closes the device, which unblocks Send
// and the ReceiveFunc with an error that Is net.ErrClosed, and waits for
// its goroutines. wireguard-go's own log lines go to Config.Logger.
//
// Not done: probing for a path MTU black hole (a path that drops big
// datagrams without an ICMP error); honouring the address part of Config.Listen (StdNetBind
// listens on the port on every address); more than one ReceiveFunc;
// following a peer's roaming endpoint in eps (eps[i] is the endpoint given
// to AddPeer); fwmark and socket options.
package wireguard
