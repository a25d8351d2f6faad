package quictransport

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// Files LoadOrCreateCert keeps in its directory, both mode 0600.
const (
	CertFile = "quic-cert.pem"
	KeyFile  = "quic-key.pem"
)

// GenerateCert returns a new self-signed Ed25519 certificate. Its
// validity (100 years) and names do not matter: peers pin the SHA-256 of
// its DER (CertHash), they do not verify it against a CA.
func GenerateCert() (tls.Certificate, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "weave-switch"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(100, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"weave-switch"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}, nil
}

// LoadOrCreateCert loads the certificate and key from CertFile and KeyFile
// in dir, or, if neither exists, generates one with GenerateCert and
// stores it there (mode 0600, dir created 0700), so a router keeps its
// pinned identity across restarts. Exactly one of the two files existing
// is an error.
func LoadOrCreateCert(dir string) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	certPEM, errC := os.ReadFile(certPath)
	keyPEM, errK := os.ReadFile(keyPath)
	switch {
	case errC == nil && errK == nil:
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("quic: loading %s: %w", dir, err)
		}
		return c, nil
	case errors.Is(errC, fs.ErrNotExist) && errors.Is(errK, fs.ErrNotExist):
	case errC != nil && !errors.Is(errC, fs.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("quic: %w", errC)
	case errK != nil && !errors.Is(errK, fs.ErrNotExist):
		return tls.Certificate{}, fmt.Errorf("quic: %w", errK)
	default:
		return tls.Certificate{}, fmt.Errorf("quic: only one of %s and %s exists in %s", CertFile, KeyFile, dir)
	}
	c, err := GenerateCert()
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("quic: %w", err)
	}
	if err := writeFile0600(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile0600(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]})); err != nil {
		return tls.Certificate{}, err
	}
	return c, nil
}

// writeFile0600 replaces path with b, durably (atomicfile.Write).
func writeFile0600(path string, b []byte) error {
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("quic: %w", err)
	}
	return nil
}

// HashCert returns the SHA-256 of a certificate's DER, the pinned value.
func HashCert(der []byte) [32]byte { return sha256.Sum256(der) }
