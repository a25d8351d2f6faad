package dns

import "github.com/weave-switch/weave-switch/host"

// bridgeAddrs lists a bridge's addresses.
var bridgeAddrs = host.BridgeAddrs
