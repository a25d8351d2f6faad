// Package plugin is the router's Docker network driver and IPAM driver:
// the libnetwork remote plugin protocol (JSON over HTTP on a unix
// socket), served by the router itself, so that
//
//	docker network create -d weave-switch --ipam-driver weave-switch NET
//
// puts containers on the weave bridge with addresses from the router's
// allocator.
//
// # What each call does
//
// The IPAM driver maps a docker network to one subnet of the allocation
// range: the default subnet, --subnet CIDR, or --ipam-opt app=NAME /
// net=CIDR (as attach's app:NAME and net:CIDR). The pool ID is that
// subnet's spec, so it means the same after a restart. The gateway of a
// network is this host's exposed address in the subnet (exposed,
// masqueraded, when the first network of the subnet asks for it, and
// hidden when its last network is removed), so a container's default
// route works and no docker_gwbridge is made. A container's address is
// allocated under a key starting with AddrKeyPrefix; a preferred address
// already held by a container's own key (docker.ContainerKey, reserved
// by the API proxy) is granted as it is and outlives the endpoint.
//
// The network driver makes each endpoint's veth pair through
// attach.Service.CreateEndpoint: the port's isolation rules are in place
// before the host end is up, and libnetwork moves the container end
// into the container, renamed ethwe<N>. The veth and the bridge are in
// the router's network namespace, which must be dockerd's.
//
// # Life
//
// New does no I/O. Start loads the state file (networks, their exposed
// gateways and endpoints), puts back the rules of endpoints an earlier
// run made, installs the FORWARD rules bridged traffic needs where
// dockerd has set that chain's policy to DROP, and serves the sockets.
// Close stops serving, removes the sockets and the FORWARD rules; it
// keeps endpoints and exposures, which belong to docker's containers and
// networks, and is idempotent.
package plugin
