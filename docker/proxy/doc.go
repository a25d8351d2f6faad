// Package proxy is the router's Docker API proxy: a unix socket that
// speaks the Docker Engine API (`eval $(weave-switch env)` points the
// docker CLI at it) and forwards every request to the Docker daemon,
// with one rewrite: a container it creates is put on the weave network
// before its process starts.
//
// # Forwarding
//
// Requests go to the daemon through an httputil.ReverseProxy that flushes
// every write at once, so logs -f, events and stats stream. Attach and
// exec start take over the connection: those asking for an upgrade
// (Connection: Upgrade, Upgrade: tcp, answered with 101) go through the
// ReverseProxy's protocol switch; those without (the older raw hijack,
// answered with 200 and a raw stream) are spliced by hand. Either way
// stdin and output flow both ways and a half-close on one side reaches
// the other.
//
// # Create
//
// POST /containers/create (under any /vX.Y prefix) is read (at most
// Config.MaxBody bytes) and its Env searched for WEAVE_CIDR: unset or
// empty gives one automatic address in the default subnet, "none" leaves
// the container alone, and otherwise it is a space-separated list of
// what `weave-switch attach` takes (10.32.1.5/12, net:CIDR, net:default,
// app:NAME). Containers whose NetworkMode is host, none or container:X,
// or a network of the router's driver, are left alone too. The create is
// forwarded as it came; once the daemon answers with the new ID, the
// proxy reserves the addresses under docker.ContainerKey(ID) (see
// Addresses) and connects the created, not yet started container to the
// weave network with the first address as its preferred IPv4 address and
// the others in the endpoint's DriverOpts under ExtraOpt. Docker then
// puts it on the network before its process starts, and asks for the
// same address on every start. If the reservation or the connect fails,
// the proxy removes the container and answers the create with Docker's
// error JSON, {"message": "..."}. WEAVE_CIDR stays in the container's
// environment.
//
// # Lifecycle
//
// New does no I/O. Start takes the socket (replacing a stale socket file,
// refusing one a live server answers on) and serves it. Close stops
// accepting, ends every request under way (hijacked streams included),
// waits for their handlers and removes the socket; it is idempotent.
package proxy
