package wireguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseEndpoints(t *testing.T) {
	k1, k2 := strings.Repeat("01", 32), strings.Repeat("ab", 32)
	dump := "private_key=" + strings.Repeat("ff", 32) + "\nlisten_port=51820\n" +
		"public_key=" + k1 + "\nendpoint=[::ffff:203.0.113.10]:40000\nlast_handshake_time_sec=1\n" +
		"public_key=" + k2 + "\nallowed_ip=10.0.0.0/8\n" +
		"public_key=zz\nendpoint=192.0.2.1:1\n"
	got := parseEndpoints(dump)
	var key1, key2 [32]byte
	for i := range key1 {
		key1[i], key2[i] = 0x01, 0xab
	}
	if want := netip.MustParseAddrPort("203.0.113.10:40000"); got[key1] != want {
		t.Errorf("endpoint of key 1: %v, want %v", got[key1], want)
	}
	if _, ok := got[key2]; ok || len(got) != 1 {
		t.Errorf("endpoints %v, want only key 1's", got)
	}
}
