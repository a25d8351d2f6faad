// Package memory is an in-process Transport for unit tests: no sockets, no
// goroutines, deterministic.
//
// A Network is a hub that stands for the underlay. Each Transport created
// with Network.NewTransport is attached to it at a fake netip.AddrPort once
// opened; Send copies the frames into the destination's bounded receive
// queue, with Meta.Src, Meta.Dst and Meta.GSO from the batch and Meta.Via
// set to the sender's name, as the sleeve does. A full queue drops and
// counts, it never blocks the sender: a slow receiver does not hold up the
// others.
//
// Knobs for fault tests: Network.SetLoss drops frames at random from a seeded
// source (Network.SetSeed), and Network.Cut / Network.Heal cut and restore
// the link between two addresses in both directions, for partitions.
//
// Unlike the sleeve, the memory transport adds no overhead (Overhead returns
// 0) and does not pack or fragment frames: it checks only that each frame
// is between frame.EthernetHeaderSize and frame.MaxSuperFrameSize bytes
// long (GSO super-frames included). A receive queue slot grows to the
// largest frame it has held, so a queue that carried super-frames may hold
// up to DefaultQueueLen × 64 KiB. On receive, a frame bigger than the room
// in the caller's batch buffer is dropped and counted (Stats.TooBig).
package memory
