package meshsecret

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// FileName is the secret's file in the data directory.
const FileName = "mesh-secret"

// secretBytes is the entropy of a generated secret (256 bits).
const secretBytes = 32

// Path returns the secret's file in dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// Load returns the secret kept in dir. The error Is os.ErrNotExist when
// there is none.
func Load(dir string) ([]byte, error) {
	file := Path(dir)
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s := bytes.TrimRight(b, "\r\n")
	if len(s) == 0 || len(s) > MaxSecret {
		return nil, fmt.Errorf("%s: a secret of %d bytes is outside 1..%d (remove the file to make a new one)", file, len(s), MaxSecret)
	}
	return s, nil
}

// LoadOrCreate returns the secret kept in dir. The first time, it makes
// one (32 random bytes, base64url text), writes it there atomically with
// mode 0600 and reports created. Two routers racing on one directory end
// with the same secret.
func LoadOrCreate(dir string) (secret []byte, created bool, err error) {
	s, err := Load(dir)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return s, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("data dir: %w", err)
	}
	var raw [secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, false, err
	}
	s = []byte(base64.RawURLEncoding.EncodeToString(raw[:]))
	switch err := atomicfile.Create(Path(dir), append(s, '\n'), 0o600); {
	case errors.Is(err, os.ErrExist):
		s, err := Load(dir)
		return s, false, err
	case err != nil:
		return nil, false, fmt.Errorf("save mesh secret: %w", err)
	}
	return s, true, nil
}

// Store keeps secret in dir (atomically, mode 0600) unless it is there
// already, and reports whether it replaced a different one.
func Store(dir string, secret []byte) (replaced bool, err error) {
	if len(secret) == 0 || len(secret) > MaxSecret || bytes.ContainsAny(secret, "\r\n") {
		return false, fmt.Errorf("save mesh secret: a secret must be 1..%d bytes without line breaks", MaxSecret)
	}
	old, err := Load(dir)
	if err == nil && bytes.Equal(old, secret) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("data dir: %w", err)
	}
	if err := atomicfile.Write(Path(dir), append(append([]byte(nil), secret...), '\n'), 0o600); err != nil {
		return false, fmt.Errorf("save mesh secret: %w", err)
	}
	return old != nil, nil
}
