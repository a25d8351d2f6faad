// Package udpbatch is the UDP socket plumbing the userspace transports
// share: batched receives with recvmmsg(2) that allocate nothing per
// datagram (Reader), batched sends with sendmmsg(2) that build UDP GSO
// messages from runs of equal-size datagrams, for every transport
// (Writer), UDP GSO and GRO (SetupOffloads, PutSegmentCmsg, GROSize,
// GSOError) and forced socket buffer sizes (SetSocketBuffers).
// Outside Linux it falls back to one datagram per call and no offloads.
// It uses the standard syscall package and x/sys/unix's syscall numbers.
package udpbatch
