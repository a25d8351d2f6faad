package frame

import (
	"encoding/hex"
	"fmt"
)

// MAC is an Ethernet address as a value type, usable as a map key.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// IsMulticast reports whether m is a group address (broadcast included).
func (m MAC) IsMulticast() bool { return m[0]&1 == 1 }

// IsZero reports whether m is 00:00:00:00:00:00.
func (m MAC) IsZero() bool { return m == MAC{} }

// String formats m as aa:bb:cc:dd:ee:ff.
func (m MAC) String() string { return formatColon(m[:]) }

// ParseMAC parses aa:bb:cc:dd:ee:ff (or with '-' separators).
func ParseMAC(s string) (MAC, error) {
	var m MAC
	if err := parseColon(s, m[:]); err != nil {
		return MAC{}, fmt.Errorf("invalid MAC %q: %w", s, err)
	}
	return m, nil
}

func formatColon(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, len(b)*3)
	for i, c := range b {
		if i > 0 {
			out = append(out, ':')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&0xf])
	}
	return string(out)
}

func parseColon(s string, dst []byte) error {
	if len(s) != len(dst)*3-1 {
		return fmt.Errorf("want %d hex octets separated by ':'", len(dst))
	}
	for i := range dst {
		if i > 0 {
			if sep := s[i*3-1]; sep != ':' && sep != '-' {
				return fmt.Errorf("bad separator %q", sep)
			}
		}
		if _, err := hex.Decode(dst[i:i+1], []byte(s[i*3:i*3+2])); err != nil {
			return err
		}
	}
	return nil
}
