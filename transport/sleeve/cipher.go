package sleeve

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/sys/cpu"
)

// Cipher is the AEAD an encrypted link seals its datagrams with. Both
// take a 32-byte key, a 12-byte nonce and add a 16-byte tag, so the
// datagram layout (see Encryption in the package doc) is the same for
// both; the receiver knows the cipher from its key, not from the wire.
type Cipher uint8

const (
	// CipherAuto, in Config.Cipher, lets each link choose: AES-256-GCM
	// when both ends have hardware AES, else ChaCha20-Poly1305. It is not
	// a cipher a key is installed with.
	CipherAuto Cipher = iota
	// ChaCha20Poly1305 is ChaCha20-Poly1305 (RFC 8439): constant time
	// everywhere, fast without AES instructions.
	ChaCha20Poly1305
	// AES256GCM is AES-256 in GCM mode (NIST SP 800-38D): several times
	// faster than ChaCha20-Poly1305 where the CPU has AES and carry-less
	// multiplication instructions, slow and not constant time without.
	AES256GCM
)

// cipherNames are the names in Config, flags and capabilities.
var cipherNames = [...]string{
	CipherAuto:       "auto",
	ChaCha20Poly1305: "chacha20-poly1305",
	AES256GCM:        "aes256-gcm",
}

// String returns the cipher's name: "auto", "chacha20-poly1305" or
// "aes256-gcm".
func (c Cipher) String() string {
	if int(c) < len(cipherNames) {
		return cipherNames[c]
	}
	return fmt.Sprintf("cipher(%d)", uint8(c))
}

// ParseCipher returns the Cipher named s (as String returns it; "" is
// CipherAuto).
func ParseCipher(s string) (Cipher, error) {
	if s == "" {
		return CipherAuto, nil
	}
	for c, name := range cipherNames {
		if s == name {
			return Cipher(c), nil
		}
	}
	return 0, fmt.Errorf("unknown cipher %q: want auto, aes256-gcm or chacha20-poly1305", s)
}

// valid reports whether c is a cipher keys can be installed with.
func (c Cipher) valid() bool { return c == ChaCha20Poly1305 || c == AES256GCM }

// HasHardwareAES reports whether this CPU runs AES-GCM in hardware (AES
// and carry-less multiplication instructions), where Go's AES-GCM is
// constant time and faster than ChaCha20-Poly1305.
func HasHardwareAES() bool {
	switch runtime.GOARCH {
	case "amd64", "386":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	case "ppc64", "ppc64le":
		return true // POWER8 and later, Go's minimum
	}
	return false
}

// newAEAD returns the AEAD of cipher c under key; c is valid.
func newAEAD(c Cipher, key [32]byte) cipher.AEAD {
	var (
		a   cipher.AEAD
		err error
	)
	switch c {
	case AES256GCM:
		var b cipher.Block
		if b, err = aes.NewCipher(key[:]); err == nil {
			a, err = cipher.NewGCM(b)
		}
	case ChaCha20Poly1305:
		a, err = chacha20poly1305.New(key[:])
	default:
		err = fmt.Errorf("invalid cipher %v", c)
	}
	if err != nil {
		panic("sleeve: " + c.String() + " with a 32-byte key: " + err.Error()) // broken invariant
	}
	return a
}

// CapCiphers is the capability under which an encrypting router announces
// the ciphers it accepts on its links, comma-separated, the preferred
// first. It travels in the control handshake's Hello, which is sealed and
// authenticated under the mesh password, so no one on the path can change
// it to force a weaker choice. A router that announces none accepts
// ChaCha20-Poly1305 only.
const CapCiphers = "sleeve.ciphers"

// acceptedCiphers returns the ciphers a router with setting c accepts,
// the preferred first: an explicit cipher is the only one; CipherAuto is
// AES-256-GCM then ChaCha20-Poly1305 with hardware AES, and
// ChaCha20-Poly1305 only without (AES in software is slow and leaks
// timing).
func acceptedCiphers(c Cipher, hwAES bool) []Cipher {
	switch {
	case c.valid():
		return []Cipher{c}
	case hwAES:
		return []Cipher{AES256GCM, ChaCha20Poly1305}
	}
	return []Cipher{ChaCha20Poly1305}
}

// formatCiphers is the CapCiphers value of cs.
func formatCiphers(cs []Cipher) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.String()
	}
	return strings.Join(names, ",")
}

// parseCiphers reads a peer's CapCiphers value: the ciphers it names that
// this router knows, unknown names skipped (a later release may offer
// more); the empty value (a router that announces none) is
// ChaCha20-Poly1305, the only cipher routers without the capability speak.
func parseCiphers(v string) []Cipher {
	if v == "" {
		return []Cipher{ChaCha20Poly1305}
	}
	var cs []Cipher
	for name := range strings.SplitSeq(v, ",") {
		if c, err := ParseCipher(strings.TrimSpace(name)); err == nil && c.valid() && !slices.Contains(cs, c) {
			cs = append(cs, c)
		}
	}
	return cs
}

// NegotiateCipher returns the cipher of a link between routers that
// accept ours and theirs: AES-256-GCM if both accept it, else
// ChaCha20-Poly1305 if both accept it. The rule is symmetric, so both
// ends choose the same cipher from the same two lists. If they have none
// in common it returns an error that names both lists.
func NegotiateCipher(ours, theirs []Cipher) (Cipher, error) {
	for _, c := range [...]Cipher{AES256GCM, ChaCha20Poly1305} {
		if slices.Contains(ours, c) && slices.Contains(theirs, c) {
			return c, nil
		}
	}
	return 0, fmt.Errorf("no cipher in common: this router accepts %s, the peer accepts %s%s",
		orNone(formatCiphers(ours)), orNone(formatCiphers(theirs)), cipherHint(ours, theirs))
}

func orNone(s string) string {
	if s == "" {
		return "none known to this router"
	}
	return s
}

// cipherHint explains the usual cause of a failed negotiation.
func cipherHint(ours, theirs []Cipher) string {
	if slices.Equal(ours, []Cipher{AES256GCM}) && slices.Equal(theirs, []Cipher{ChaCha20Poly1305}) {
		return " (the peer has no hardware AES or runs with --cipher chacha20-poly1305; use --cipher auto here)"
	}
	if slices.Equal(theirs, []Cipher{AES256GCM}) {
		return " (the peer runs with --cipher aes256-gcm; use --cipher auto on it)"
	}
	return " (set --cipher auto on both)"
}

// Ciphers returns the ciphers s accepts on its links, the preferred first
// (see Config.Cipher), or nil if s does not encrypt. The slice is shared:
// do not modify it.
func (s *Sleeve) Ciphers() []Cipher { return s.ciphers }
