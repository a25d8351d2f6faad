// Package daemon is the composition root of one host's router: what
// `weave-switch up` runs. It takes a config.Config, builds each service in
// order, wires them together through the narrow interfaces each service
// defines for what it consumes, and tears them down in reverse. It holds
// no control loop and no policy of its own: every loop, every piece of
// state and its persistence live in the service that owns them.
//
// # Services
//
// Each service lives in its own package and has the same life:
//
//   - a constructor (New, NewService) that validates and stores its
//     configuration and does no I/O: no socket, file, link or goroutine;
//   - a start (Start, Open) that binds, creates and spawns its named
//     goroutines, and on failure undoes what it had done;
//   - an idempotent Close that undoes exactly what start did and waits for
//     its goroutines.
//
// Today's services, in start order: the transports (transport/sleeve,
// transport/wireguard, transport/quic), the router (switch and data path),
// the bridge (host), isolation, exposed addresses and NAT
// (isolation.Service), address management (alloc/ipam), DNS and the
// mesh's name registry (dns), the control plane (gossip/mesh), the
// Kubernetes node list (kube, with --kube), the kernel fast path
// (kernel.Service), attachments (attach.Service), the Docker integration
// (docker/integration: the network and IPAM plugin, events watcher and
// API proxy, unless --no-docker; its client is made before attach, which
// resolves containers by name through it, and its parts start after), and
// the API, metrics and status page servers (api, web).
//
// # Start steps
//
// Start runs the list of named steps in steps(). A step builds or starts
// one thing and returns the function that undoes exactly that; the
// undos go on one stack, and a failed step, or Close, runs the stack in
// reverse. A root test (start_linux_test.go) injects a failure after each
// step in turn, in a network namespace of its own, and checks that
// nothing is left: no link, nft table, bound socket, API socket or
// goroutine.
//
// # Running and stopping
//
// Run is Start, Wait and Close. Wait returns when its context ends, when
// the router fails, or when the API's down (POST /v1/down, served by
// shutdown in lifecycle.go) asks the router to stop; with leave, down
// first hands this host's address ranges to a live peer (ipam.Leave).
// `up` calls the three itself, to tell systemd when the router is ready
// and when it stops, and to reload on SIGHUP in between.
//
// # Adding a service
//
// A new service (the Docker plugin, the CNI server side, DNS) is a
// package with the life above. In it, define the interfaces it needs of
// other services, named for what it consumes (attach.Addresses,
// kernel.Source), so that it never reaches into another's internals; give
// it a Collector method if it has metrics and a method that renders its
// part of the API status. Here, add one step to steps() at the point
// where what it consumes exists, returning its Close as the undo; pass it
// the daemon's logger With("component", NAME); register its Collector in
// metricsHandler and its API routes in serveAPI (api.Backends). When a
// consumer interface does not match a provider's method set, write the
// few lines of adapter in wiring.go.
package daemon
