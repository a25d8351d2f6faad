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
// endian uint16s, as in the sleeve); any other bit is malformed. src and
// dst are Meta.Src and Meta.Dst (UnknownPeer for a flooded frame). The
// receiver sets Meta.Via from the IPv6 source (which wireguard-go has
// already checked against the sending peer's allowed IP) and eps[i] to
// that peer's endpoint given to AddPeer.
//
// # MTU and overhead
//
// The TUN MTU is TunMTU (65472): one WireGuard message carries a whole
// frame of up to MaxFrameSize (65408) bytes; wireguard-go does not segment,
// and a message larger than the underlay MTU leaves as one IP-fragmented
// UDP datagram. A full 64 KiB GSO super-frame (frame.MaxSuperFrameSize) is
// larger: Send drops such frames, counts them (Stats.TxTooBig) and returns
// ErrFrameTooBig. Overhead() is IPv4 20 + UDP 8 + WireGuard 32 + padding
// 15 + IPv6 40 + overlay 14 + GSO 10 = 139 (159 if Listen is IPv6).
//
// # Keys
//
// Each peer has a Curve25519 key pair: LoadOrCreateKey keeps the private
// key in the data directory (base64 as `wg genkey` writes it, mode 0600),
// Config.PrivateKey takes it, and PublicKey() is what the control plane
// sends over its authenticated channel; the receiving side calls AddPeer
// with it. Users never write a WireGuard configuration.
//
// # Data path and lifecycle
//
// New creates the device, binds the UDP socket (in the network namespace
// of the calling thread) and brings the device up. Send hands its batch to
// the device's TUN reader through a bounded queue (txQueueLen requests;
// when full the batch is dropped and counted) and returns once the frames
// are encoded into the device's buffers (one copy, nothing allocated per
// frame). The device's TUN writes (decrypted packets, one goroutine per
// peer) go through a bounded queue to the single ReceiveFunc, which
// decodes them straight into its batch; a full queue drops and counts.
// A device write waits until the ReceiveFunc has taken its packets, so a
// receiver that stops reading stalls the device's per-peer receive
// goroutines (until Close). Close closes the device, which unblocks Send
// and the ReceiveFunc with an error that Is net.ErrClosed.
//
// Not done: fragmenting frames above MaxFrameSize (full-size GSO
// super-frames); honouring the address part of Config.Listen (StdNetBind
// listens on the port on every address); more than one ReceiveFunc;
// following a peer's roaming endpoint in eps (eps[i] is the endpoint given
// to AddPeer); fwmark and socket options.
package wireguard
