// Package reset removes from a host everything a weave-switch router
// makes there, for `weave-switch reset`: the links (the bridge, its TAP,
// the veths of the containers it attached, the kernel fast path's
// devices), the nftables tables (isolation's and the fast path's
// fence), the IPv4 forwarding it turned on, its sockets, and with
// Config.Data the data directory. It works from names alone (each is
// derived from the bridge's name), so it cleans up after a router that
// was killed as well as after one that stopped, and running it again
// finds nothing to do.
//
// It must not run while a router serves the bridge: the caller stops it
// first (through the API's down). Reset is not safe for concurrent use
// with a router on the same bridge.
package reset
