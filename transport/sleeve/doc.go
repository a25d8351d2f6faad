// Package sleeve is the plain UDP transport: Weave's "sleeve" overlay,
// batched. Frames travel between peers in UDP datagrams on port 6783, several
// small frames packed into one datagram, a frame bigger than the packing
// limit alone (letting IP fragment it). It implements transport.Transport.
//
// # Wire format
//
// A datagram (the UDP payload) is an 8-byte header followed by one or more
// frames, each with a 14-byte frame header. All integers are big endian.
//
//	datagram    := header { frameHeader frame }+
//	header      := version(1) = 1 | flags(1) = 0 | sender PeerName(6)
//	frameHeader := src PeerName(6) | dst PeerName(6) | len uint16
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  version = 1  |   flags = 0   |                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    sender PeerName (6 bytes)  +
//	|                                                               |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ -.
//	|                                                               |  |
//	+    src PeerName (6 bytes)     +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
//	|                               |                               |  | frame
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    dst PeerName (6 bytes)     +  | header
//	|                                                               |  | (14)
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  |
//	|         len (uint16)          |                               | -'
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//	|         Ethernet frame: len bytes, no FCS, 14 <= len <= 9018  |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|  more frame headers and frames, up to the end of the datagram |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// sender is the peer that sent the datagram (the previous hop: receivers set
// Meta.Via from it, so a peer is known by name even behind NAT). src is the
// peer that captured the frame from its bridge (Meta.Src: switches learn MACs
// from it); dst is the destination peer, or 00:00:00:00:00:00 for a flooded
// frame (Meta.Dst). flags is reserved for encryption: a receiver refuses a
// datagram whose flags are not 0. This is Weave's sleeve format with a
// version and flags byte in front of the sender name.
//
// A datagram is valid only as a whole: Reader.Reset and Decode check every
// frame header before handing out any frame, so a datagram with one bad
// frame is dropped entirely (all or nothing). A valid datagram is at most
// MaxDatagramSize bytes.
//
// # Overhead and MTU
//
// On an IPv4 underlay, a datagram carrying one frame costs
//
//	+---------+-------+--------------+--------------+----------+------------------+
//	| IPv4 20 | UDP 8 | header 8     | frame hdr 14 | Ether 14 | overlay IP packet |
//	+---------+-------+--------------+--------------+----------+------------------+
//	'------------- Overhead() = 50 ----------------'
//
// so with a 1500-byte underlay MTU the overlay MTU (the bridge's IP MTU) is
// 1500 - 50 - 14 = 1436. On an IPv6 underlay the IP header is 40 bytes and
// Overhead is 70.
//
// The sender packs consecutive frames of a batch into one datagram while
// it stays within UnderlayMTU - 28 bytes (IPv4 + UDP; -48 for an IPv6
// destination). A frame too big for that is sent alone and IP fragments it.
//
// # Batching and memory
//
// Send writes a single-frame datagram's headers in place, in the batch's
// headroom, and hands the buffer to sendmmsg (no copy); packed datagrams are
// copied into preallocated scratch. Each ReceiveFunc owns BatchSize buffers of
// MaxDatagramSize+1 bytes (about 1.1 MiB at 128) and, on Linux, reads up to
// BatchSize datagrams with one recvmmsg; the frames are copied into the
// caller's batch. Frames of datagrams already read that do not fit in the
// caller's batch are kept and returned by the next call. Neither path
// allocates in steady state.
package sleeve
