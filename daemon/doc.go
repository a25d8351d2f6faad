// Package daemon runs one host's router: what `weave-switch up` does. It
// sets up the host side (bridge, TAP), the transport and the router, serves
// the local API, and on shutdown removes everything it created, in reverse
// order.
package daemon
