package dns

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// MaxNameLen is the longest name in the registry, in its presentation
// form with the final dot (the DNS limit of 255 octets on the wire).
const MaxNameLen = 254

// MaxKeyLen bounds a container key (a namespace path, a container ID).
const MaxKeyLen = 128

// CanonicalName returns name as the registry keeps it: lower case, fully
// qualified (with the final dot), inside domain. A name without a dot at
// the end is taken as relative to domain unless it already ends in it
// ("web" and "web.weave.local" are both web.weave.local.). Each label is
// 1 to 63 letters, digits, '-' or '_', not starting or ending with '-'.
// domain must be canonical itself (see CanonicalDomain).
func CanonicalName(name, domain string) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, "."):
	case n+"." == domain || strings.HasSuffix(n+".", "."+domain):
		n += "."
	default:
		n += "." + domain
	}
	if err := checkName(n); err != nil {
		return "", fmt.Errorf("name %q: %w", name, err)
	}
	if n == domain || !strings.HasSuffix(n, "."+domain) {
		return "", fmt.Errorf("name %q is not inside the domain %s", name, domain)
	}
	return n, nil
}

// CanonicalDomain returns domain lower case and with its final dot, or an
// error if it is not a valid name.
func CanonicalDomain(domain string) (string, error) {
	d := strings.ToLower(domain)
	if !strings.HasSuffix(d, ".") {
		d += "."
	}
	if err := checkName(d); err != nil {
		return "", fmt.Errorf("domain %q: %w", domain, err)
	}
	return d, nil
}

// checkName reports whether n is a canonical, fully qualified name: lower
// case, final dot, valid labels, at most MaxNameLen bytes.
func checkName(n string) error {
	if len(n) < 2 || len(n) > MaxNameLen || n[len(n)-1] != '.' {
		return errors.New("not a fully qualified name of 2 to 254 characters")
	}
	start := 0
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c == '.':
			l := n[start:i]
			if len(l) == 0 || len(l) > 63 {
				return errors.New("a label is empty or longer than 63 characters")
			}
			if l[0] == '-' || l[len(l)-1] == '-' {
				return errors.New("a label starts or ends with '-'")
			}
			start = i + 1
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("character %q is not a lower-case letter, digit, '-' or '_'", c)
		}
	}
	return nil
}

// checkKey reports whether k is a valid container key: 0 to MaxKeyLen
// printable ASCII characters.
func checkKey(k string) error {
	if len(k) > MaxKeyLen {
		return fmt.Errorf("key longer than %d characters", MaxKeyLen)
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return fmt.Errorf("key has a character 0x%02x that is not printable ASCII", k[i])
		}
	}
	return nil
}

// checkAddr reports whether a is an address a name can map to: valid,
// without zone, not unspecified, and IPv4 not written as IPv6.
func checkAddr(a netip.Addr) error {
	if !a.IsValid() || a.IsUnspecified() || a.Zone() != "" || a.Is4In6() {
		return fmt.Errorf("address %s cannot be registered", a)
	}
	return nil
}

// reverseAddr parses a reverse-lookup name (d.c.b.a.in-addr.arpa. or the
// 32 nibbles of ip6.arpa.), in any case, into its address. It does not
// allocate.
func reverseAddr(name string) (netip.Addr, bool) {
	const v4, v6 = ".in-addr.arpa.", ".ip6.arpa."
	if hasSuffixFold(name, v4) {
		s := name[:len(name)-len(v4)]
		var b [4]byte
		// The labels are d.c.b.a: label k from the left is byte 3-k.
		for k := range 4 {
			part := s
			if k < 3 {
				j := strings.IndexByte(s, '.')
				if j < 0 {
					return netip.Addr{}, false
				}
				part, s = s[:j], s[j+1:]
			}
			if len(part) == 0 || len(part) > 3 || (len(part) > 1 && part[0] == '0') {
				return netip.Addr{}, false
			}
			v := 0
			for i := 0; i < len(part); i++ {
				if part[i] < '0' || part[i] > '9' {
					return netip.Addr{}, false
				}
				v = v*10 + int(part[i]-'0')
			}
			if v > 255 {
				return netip.Addr{}, false
			}
			b[3-k] = byte(v)
		}
		return netip.AddrFrom4(b), true
	}
	if hasSuffixFold(name, v6) {
		s := name[:len(name)-len(v6)]
		if len(s) != 63 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i := 0; i < 32; i++ {
			c := s[i*2]
			if i < 31 && s[i*2+1] != '.' {
				return netip.Addr{}, false
			}
			var v byte
			switch {
			case c >= '0' && c <= '9':
				v = c - '0'
			case c >= 'a' && c <= 'f':
				v = c - 'a' + 10
			case c >= 'A' && c <= 'F':
				v = c - 'A' + 10
			default:
				return netip.Addr{}, false
			}
			// Nibble i (from the left of the name) is nibble 31-i of the
			// address.
			n := 31 - i
			if n%2 == 0 {
				b[n/2] |= v << 4
			} else {
				b[n/2] |= v
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}
