// Package mesh is the control plane's connection layer: it keeps TCP
// control connections to other routers (listening and dialing on port
// 6783), authenticates them (package handshake), gossips the topology
// (package topology) over them, discovers peers from gossip, and feeds the
// data path (package router, through the types of package link) with the
// neighbours' data endpoints and the routes computed from the topology.
//
// # Concurrency
//
// One actor goroutine owns all state (topology, connections, dial targets)
// and runs actions posted to it; per connection there is a reader and a
// writer goroutine; dials and handshakes run in goroutines of their own and
// post their result. A slow peer never blocks the actor: each connection
// has a bounded send queue, and a peer that cannot keep up is disconnected.
//
// # Liveness and timing
//
//   - Heartbeats: every HeartbeatInterval (1 s) the router pings its
//     neighbours through the data path: every one whose link carries data
//     (the ping rides with the next frames we send it, if we send any)
//     or whose last ping is unanswered; an idle one whose last ping was
//     answered only every router.Config.IdleHeartbeat (the keepalive,
//     10 s), counting from the last exchange either router started (the
//     router's heartbeat.go). A link is "established" once a ping was
//     answered, and only
//     established links enter the topology and the routes. A link whose
//     ping stays unanswered for LinkTimeout (5 s) falls back to "pending"
//     and leaves the routes at once: within about 6 s of its data path
//     going silent under traffic, within the keepalive and 6 s when idle.
//   - Control connections exchange a topology summary and a ping every
//     2 s while busy (young, data link not answering, summaries differing
//     or the topology changed in the last 6 s); while quiet, a summary
//     every 30 s and a ping every 60 s. A connection silent for 75 s is
//     closed; the kernel's TCP keepalives close one to a host that died
//     or dropped off the network within about 30 s of its last word. A
//     peer that does not announce CapQuiet is sent a quiet summary every
//     6 s and a ping every 30 s, and its connection is closed after 10 s
//     of silence. Deltas and channel changes go out within 100 ms of
//     happening, whatever the pace (pace.go).
//   - A peer that leaves or dies is out of the routes as soon as the
//     connection closes or its link times out (see Heartbeats), and its MACs are purged from the switch as soon as
//     it becomes unreachable; its topology entry is garbage-collected
//     after topology.DefaultGCGrace (1 min).
//   - Dials retry with exponential backoff from 1 s to 60 s with ±50 %
//     jitter; the TCP connect of a dial gives up after 5 s; at most 32
//     dials are under way at once, the other due targets waiting for one
//     to end. A target
//     learned from gossip whose dials failed twice while its peer is alive
//     (reached through others: behind NAT) is tried every 10 minutes
//     (state backoff). A peer reached only through others is called to
//     punch (punch.go) once the first plain dial to it failed: a call
//     unanswered within 3 s or a punch that fails backs the next call
//     off from 2 s, doubling, to 5 minutes (30 s for a peer punched
//     before); a punched link whose data
//     path is silent for LinkTimeout is dropped and called again at once.
//   - Routed messages (calls and their answers) are forwarded at most 16
//     hops and 64 a second per router.
//   - Inbound handshakes: each source (an IPv4 address, an IPv6 /64) may
//     start 2 a second with a burst of 8, and have 4 in progress; 64 may
//     be in progress overall; each must finish within
//     handshake.DefaultTimeout (10 s). Refused connections are closed at
//     once, counted by reason (Status.HandshakesRefused) and logged at
//     most once per 10 s with the count of those not logged.
package mesh
