// Package web is the router's live status page: one HTML page, its
// stylesheet and script, embedded in the binary (no external assets), and
// the JSON it polls every second (the API status with its health, as
// api.CheckHealth judges it for `weave-switch status` too).
//
// The page draws the mesh: every peer of the gossiped topology as a node,
// every established link between peers as an edge; this router's own
// links are coloured by transport, drawn thick on the kernel fast path and
// dashed when unencrypted, and labelled with their throughput (from the
// byte counters' change between polls) and round trip. A link that is
// not established, or that has gone from the status since the page saw
// it, is drawn red. Below the picture are the links, peers, the local
// containers with their addresses and names, and the health checks. Every
// link in the page carries data-link (the two peer names, sorted, joined
// by a space) and data-state ("up", or the connection's state, or "down"),
// so that a test or a scraper can read it from the DOM.
//
// Handler serves the page on any mux (the daemon mounts it at / on the API
// socket). Server serves it alone over TCP (--http-addr): read-only, GET
// only, nothing that changes the router and no profiling. The status it
// shows names peers, underlay addresses and container addresses, so bind
// it to an address only trusted people reach (127.0.0.1 by default in
// the examples).
//
// Server has the life of every service: New does no I/O, Start binds and
// serves, Close is idempotent and undoes Start.
package web
