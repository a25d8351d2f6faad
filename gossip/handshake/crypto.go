package handshake

import (
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime/debug"
	"sync"

	"github.com/flynn/noise"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// suite is the Noise cipher suite: Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s.
var suite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// Argon2id parameters stretching Config.Password into the Noise PSK
// (RFC 9106 section 4 style, scaled for a 2-core router): about 50 ms and
// 32 MiB once per password per process. The salt is fixed, so that every
// router derives the same PSK from the same password.
const (
	argonTime    = 3
	argonMemory  = 32 << 10 // KiB
	argonThreads = 2
	argonSalt    = "weave-switch/handshake/v1 psk"
)

// HKDF labels of the data link keys, one per direction.
const (
	labelDataC2S = "weave-switch/handshake/v1 data key client->server"
	labelDataS2C = "weave-switch/handshake/v1 data key server->client"
)

// pskCache holds the PSKs derived so far, keyed by a hash of the password,
// so Argon2id runs once per password per process however many handshakes
// there are. It is bounded: it is cleared when full.
var pskCache struct {
	sync.Mutex
	m map[[32]byte]*pskEntry
}

type pskEntry struct {
	once sync.Once
	key  [32]byte
}

const pskCacheMax = 8

// derivePSK returns the Noise PSK for password, computing it at most once
// per process (concurrent callers wait for the first).
func derivePSK(password []byte) [32]byte {
	id := sha256.Sum256(append([]byte("weave-switch psk cache\x00"), password...))
	pskCache.Lock()
	if pskCache.m == nil || len(pskCache.m) >= pskCacheMax {
		pskCache.m = make(map[[32]byte]*pskEntry)
	}
	e := pskCache.m[id]
	if e == nil {
		e = new(pskEntry)
		pskCache.m[id] = e
	}
	pskCache.Unlock()
	e.once.Do(func() {
		copy(e.key[:], argon2.IDKey(password, []byte(argonSalt), argonTime, argonMemory, argonThreads, 32))
		// The derivation's 32 MiB are garbage as soon as it returns, but
		// a collection that ran during it counted them live and set the
		// next heap goal from them: a router would then carry tens of MiB
		// of garbage for as long as it runs. Collect now and give the
		// pages back, so the goal follows the heap the router keeps.
		debug.FreeOSMemory()
	})
	return e.key
}

// newNoise starts the NNpsk0 handshake. The prologue binds both preambles,
// so a version downgrade or a flipped password flag fails authentication.
func newNoise(client bool, psk [32]byte, prologue []byte, rng io.Reader) (*noise.HandshakeState, error) {
	return noise.NewHandshakeState(noise.Config{
		CipherSuite:           suite,
		Random:                rng,
		Pattern:               noise.HandshakeNN,
		Initiator:             client,
		Prologue:              prologue,
		PresharedKey:          psk[:],
		PresharedKeyPlacement: 0,
	})
}

// dataKeys derives the data link keys from the secret transport keys of
// the handshake (forward secret: they depend on the ephemeral DH) salted
// with the handshake hash (the channel binding), one HKDF-SHA256 label per
// direction.
func dataKeys(c2s, s2c [32]byte, binding []byte) (dataC2S, dataS2C [32]byte) {
	ikm := append(c2s[:], s2c[:]...)
	for _, d := range []struct {
		out   *[32]byte
		label string
	}{{&dataC2S, labelDataC2S}, {&dataS2C, labelDataS2C}} {
		if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, binding, []byte(d.label)), d.out[:]); err != nil {
			panic("handshake: hkdf: " + err.Error()) // cannot happen for 32 bytes
		}
	}
	return dataC2S, dataS2C
}

// errNonceExhausted is returned after 2^64-1 records in one direction.
var errNonceExhausted = errors.New("record counter exhausted: reconnect")

// cipherState is one direction of the Noise transport: ChaCha20-Poly1305
// keyed by the Split key, with the Noise nonce (32 zero bits, then the
// record counter little endian). The counter only moves forward, so a
// replayed, reordered or dropped record fails to open. Unlike
// noise.CipherState it does not allocate per record.
type cipherState struct {
	aead  cipher.AEAD
	n     uint64
	nonce [chacha20poly1305.NonceSize]byte
}

func newCipherState(key [32]byte) *cipherState {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("handshake: chacha20poly1305: " + err.Error()) // key size is fixed
	}
	return &cipherState{aead: aead}
}

// next returns the nonce of the next record. Noise reserves 2^64-1.
func (c *cipherState) next() ([]byte, error) {
	if c.n == math.MaxUint64 {
		return nil, errNonceExhausted
	}
	binary.LittleEndian.PutUint64(c.nonce[4:], c.n)
	return c.nonce[:], nil
}

// seal appends the encryption of plaintext to dst (which may be exactly
// plaintext[:0] for in-place) and advances the counter.
func (c *cipherState) seal(dst, plaintext, ad []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	c.n++
	return c.aead.Seal(dst, nonce, plaintext, ad), nil
}

// open appends the decryption of ciphertext to dst (which may be exactly
// ciphertext[:0]); the counter advances only on success.
func (c *cipherState) open(dst, ciphertext, ad []byte) ([]byte, error) {
	nonce, err := c.next()
	if err != nil {
		return nil, err
	}
	out, err := c.aead.Open(dst, nonce, ciphertext, ad)
	if err != nil {
		return nil, err
	}
	c.n++
	return out, nil
}
