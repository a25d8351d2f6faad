// Package dns is the router's service discovery: a DNS server on the
// bridge's address that answers for every container in the mesh by name,
// and the name registry it answers from, gossiped to every router.
//
// # Serving
//
// Service serves UDP and TCP (github.com/miekg/dns) on Config.Listen, or,
// without one, on port 53 of each IPv4 address of Config.Bridge, each
// with its own pair of sockets, followed as addresses come and go (a
// bridge with none serves nothing; an address that cannot be bound is
// logged and tried again every second). Nameserver gives a container the
// bridge address in its own subnet, one it reaches directly. A
// name in Config.Domain (weave.local. by default) is answered from the
// registry: A and AAAA records with Config.TTL (1 s), every address of
// the name in random order (several containers under one name share the
// load), NXDOMAIN with the domain's SOA for a name nobody registered. A
// reverse name (in-addr.arpa., ip6.arpa.) of a registered address gets
// its PTR records. Every other query is forwarded to the host's
// resolvers (Config.ResolvConf, read at Start and again when the file
// changes; this server's own address is never one of them), over UDP and
// again over TCP when the answer came truncated. Answers carry EDNS0 when
// the query did, and a UDP answer larger than the client takes is
// truncated so that it asks again over TCP.
//
// Forwarding is bounded: at most Config.MaxForwards queries are forwarded
// at once, and a query beyond is dropped and counted, so that a flood of
// queries costs the router a bounded number of goroutines and sockets.
// TCP connections are bounded by Config.MaxTCPConns.
//
// # The registry
//
// Registry holds one register per router: all of the router's entries
// (name, address, container key) at a stamp. It is a state-based CRDT
// the mesh carries on channel ChannelID: the greater stamp wins whole,
// so removing an entry is a new register without it and needs no
// tombstone of its own. Only the owner changes its register; stamps are
// the owner's clock in milliseconds, kept past every earlier stamp, so a
// restart outbids the copies peers hold. The Registry type's comment
// gives the rules that keep forged gossip bounded (stamps far ahead
// refused, copies of our own register outbid, tombstones of live peers
// refused), and codec.go the wire format and its limits (MaxOwners,
// MaxEntriesPerPeer, MaxRegisterBytes, MaxStateBytes).
//
// A router not alive (Liveness) for GoneAfter, or forgotten with
// ForgetPeer (rmpeer), has its register replaced by a tombstone that
// gossip carries to every router; tombstones expire after TombstoneTTL.
//
// The state is saved in Config.DataDir (StateFile) by atomic write: a
// local change whose save fails is undone and returns the error; changes
// from gossip are saved by the upkeep loop.
//
// # Lifecycle
//
// New checks the configuration and does no I/O. Start loads the saved
// state, binds UDP and TCP, reads the resolvers and starts routineServe
// (one per protocol and address) and routineUpkeep (sweeps gone peers
// every second, re-reads the resolvers when the file changed, saves
// gossip's changes, follows the bridge's addresses).
// Close stops them, saves the state and is idempotent. The registry
// exists from New, so the mesh can be given Registry() before Start.
//
// # Consumers
//
// The daemon passes the mesh through SetLiveness and SetNicknames; the
// attach service registers containers through Register, Unregister and
// Nameserver (attach.Names); the Docker events watcher keeps running
// containers' Docker names through SetNames and Keys (watch.DNS); the
// Docker API proxy gives containers Nameserver (proxy.Nameserver); the
// API serves DNSAdd, DNSRemove and DNSStatus (api.DNSBackend); Collector
// gives the metrics.
package dns
