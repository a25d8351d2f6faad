package daemon

import (
	"github.com/weave-switch/weave-switch/kernel"
	"github.com/weave-switch/weave-switch/kernel/ovs"
)

// The ovs backend exists on Linux only (generic netlink).
func init() {
	backends[kernel.ModeOVS] = func(env kernel.Env) (kernel.Datapath, error) { return ovs.New(env, ovs.Config{}) }
	fastPathPorts[kernel.ModeOVS] = func(bridge string) string { return ovs.NamesFor(bridge).BridgePort }
}
