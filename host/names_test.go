package host

import (
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

func TestTAPName(t *testing.T) {
	if got := TAPName("weave"); got != "weave-tap" {
		t.Errorf("TAPName(weave) = %q", got)
	}
	if got := TAPName("fifteen-chars-x"); len(got) > 15 {
		t.Errorf("TAPName too long: %q", got)
	}
}

func TestBridgeMAC(t *testing.T) {
	self := frame.PeerName(0x030000000001)
	mac := BridgeMAC(self)
	if mac[0]&1 != 0 || mac[0]&2 == 0 {
		t.Errorf("BridgeMAC = %s: not unicast and locally administered", mac)
	}
	var own [6]byte
	self.Put(own[:])
	if string(mac) == string(own[:]) {
		t.Errorf("BridgeMAC = %s, the peer name itself", mac)
	}
}
