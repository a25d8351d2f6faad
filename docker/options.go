package docker

// ExtraOpt is the endpoint driver option (EndpointsConfig.DriverOpts,
// `docker network connect --driver-opt`) that gives a container
// addresses besides its IPAM address on a network of the router's
// driver: comma-separated, each with its prefix length
// (10.40.3.7/24,10.32.0.9/13). The driver puts them on the container's
// interface and in its port's isolation rules.
const ExtraOpt = "weave-switch.extra"
