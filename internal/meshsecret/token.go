package meshsecret

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// TokenVersion is the version of the join tokens Token.String writes.
const TokenVersion = 1

// Limits of a token's fields.
const (
	MaxSecret    = 255 // bytes
	MaxAddresses = 16
	MaxHostName  = 253 // bytes, as in DNS
)

// tokenPrefix precedes the base64 payload in the text form (the version
// digit sits between it and the underscore).
const tokenPrefix = "wsj"

var (
	// ErrChecksum: the token's checksum does not match (mistyped or
	// truncated).
	ErrChecksum = errors.New("join token: checksum mismatch (mistyped or cut short?)")
	// ErrVersion: the token is of a version this build does not read.
	ErrVersion = errors.New("join token: unknown version")
	// ErrMalformed: the token is not a join token, or its payload does
	// not decode.
	ErrMalformed = errors.New("join token: malformed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Token is what a host needs to join a mesh: its secret and where to
// dial one of its routers. The zero value is not a valid token.
type Token struct {
	// Secret is the mesh's shared secret, 1..MaxSecret bytes.
	Secret []byte
	// Addrs are HOST:PORT of routers of the mesh (IP or host name), at
	// most MaxAddresses; dialled like --peer.
	Addrs []string
}

// Validate reports what makes t unencodable, or nil.
func (t Token) Validate() error {
	if len(t.Secret) == 0 || len(t.Secret) > MaxSecret {
		return fmt.Errorf("join token: secret of %d bytes is outside 1..%d", len(t.Secret), MaxSecret)
	}
	if len(t.Addrs) > MaxAddresses {
		return fmt.Errorf("join token: %d addresses, at most %d", len(t.Addrs), MaxAddresses)
	}
	for _, a := range t.Addrs {
		if _, _, err := splitAddr(a); err != nil {
			return fmt.Errorf("join token: address %q: %w", a, err)
		}
	}
	return nil
}

// splitAddr parses HOST:PORT, HOST an IP or a host name.
func splitAddr(a string) (netip.Addr, string, error) {
	h, p, err := net.SplitHostPort(a)
	if err != nil {
		return netip.Addr{}, "", err
	}
	if port, err := strconv.ParseUint(p, 10, 16); err != nil || port == 0 {
		return netip.Addr{}, "", fmt.Errorf("port %q is not 1..65535", p)
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.Zone() != "" {
			return netip.Addr{}, "", errors.New("an address with a zone cannot be shared")
		}
		return ip.Unmap(), "", nil
	}
	if !validHostName(h) {
		return netip.Addr{}, "", fmt.Errorf("%q is neither an IP address nor a host name", h)
	}
	return netip.Addr{}, h, nil
}

// validHostName reports whether h is a DNS name: letters, digits, '-'
// and '.', 1..MaxHostName bytes.
func validHostName(h string) bool {
	if h == "" || len(h) > MaxHostName {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Append appends t's payload (with its checksum) to b.
func (t Token) Append(b []byte) ([]byte, error) {
	if err := t.Validate(); err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, TokenVersion, byte(len(t.Secret)))
	b = append(b, t.Secret...)
	b = append(b, byte(len(t.Addrs)))
	for _, a := range t.Addrs {
		ip, name, _ := splitAddr(a)
		_, p, _ := net.SplitHostPort(a)
		port, _ := strconv.ParseUint(p, 10, 16)
		switch {
		case ip.Is4():
			b = append(b, 4)
			b = append(b, ip.AsSlice()...)
		case ip.Is6():
			b = append(b, 6)
			b = append(b, ip.AsSlice()...)
		default:
			b = append(b, 0, byte(len(name)))
			b = append(b, name...)
		}
		b = binary.BigEndian.AppendUint16(b, uint16(port))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli)), nil
}

// String returns t's text form, or "" if t is not valid (Validate).
func (t Token) String() string {
	p, err := t.Append(nil)
	if err != nil {
		return ""
	}
	return tokenPrefix + strconv.Itoa(TokenVersion) + "_" + base64.RawURLEncoding.EncodeToString(p)
}

// ParseToken decodes a token's text form. Surrounding white space is
// ignored. Errors are ErrMalformed, ErrChecksum or ErrVersion, wrapped
// with detail.
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	head, body, ok := strings.Cut(s, "_")
	if !ok || !strings.HasPrefix(head, tokenPrefix) {
		return Token{}, fmt.Errorf("%w: does not start with %q", ErrMalformed, tokenPrefix+strconv.Itoa(TokenVersion)+"_")
	}
	p, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil {
		return Token{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	t, err := DecodePayload(p)
	if err != nil {
		return Token{}, err
	}
	if head != tokenPrefix+strconv.Itoa(TokenVersion) {
		return Token{}, fmt.Errorf("%w: text says %q, payload says version %d", ErrMalformed, head, TokenVersion)
	}
	return t, nil
}

// DecodePayload decodes a token's binary payload (Append's output). It
// never allocates from a length field beyond the payload's own size.
func DecodePayload(p []byte) (Token, error) {
	if len(p) < 5 {
		return Token{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(p))
	}
	body, sum := p[:len(p)-4], binary.BigEndian.Uint32(p[len(p)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return Token{}, ErrChecksum
	}
	if body[0] != TokenVersion {
		return Token{}, fmt.Errorf("%w %d (this build reads version %d; upgrade it)", ErrVersion, body[0], TokenVersion)
	}
	r := reader{b: body[1:]}
	var t Token
	n := int(r.u8())
	t.Secret = append([]byte(nil), r.bytes(n)...)
	count := int(r.u8())
	if count > MaxAddresses {
		return Token{}, fmt.Errorf("%w: %d addresses, at most %d", ErrMalformed, count, MaxAddresses)
	}
	for i := 0; i < count && r.err == nil; i++ {
		var host string
		switch kind := r.u8(); kind {
		case 4, 6:
			size := 4
			if kind == 6 {
				size = 16
			}
			ip, _ := netip.AddrFromSlice(r.bytes(size))
			host = ip.String()
		case 0:
			host = string(r.bytes(int(r.u8())))
			if r.err == nil && !validHostName(host) {
				return Token{}, fmt.Errorf("%w: address %d: bad host name %q", ErrMalformed, i, host)
			}
		default:
			return Token{}, fmt.Errorf("%w: address %d: unknown kind %d", ErrMalformed, i, kind)
		}
		port := r.u16()
		if r.err == nil && port == 0 {
			return Token{}, fmt.Errorf("%w: address %d: port 0", ErrMalformed, i)
		}
		if r.err == nil {
			t.Addrs = append(t.Addrs, net.JoinHostPort(host, strconv.Itoa(int(port))))
		}
	}
	switch {
	case r.err != nil:
		return Token{}, fmt.Errorf("%w: truncated", ErrMalformed)
	case len(r.b) != 0:
		return Token{}, fmt.Errorf("%w: %d bytes after the addresses", ErrMalformed, len(r.b))
	case len(t.Secret) == 0:
		return Token{}, fmt.Errorf("%w: empty secret", ErrMalformed)
	}
	return t, nil
}

// reader reads big-endian fields; past the end it records an error and
// returns zeros.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		r.err = errors.New("short")
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() uint8 {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}
