//go:build !linux

package dns

import (
	"errors"
	"net/netip"
)

// bridgeAddrs lists a bridge's addresses: Linux only.
func bridgeAddrs(string) ([]netip.Prefix, error) {
	return nil, errors.New("bridge addresses are listed on Linux only")
}
