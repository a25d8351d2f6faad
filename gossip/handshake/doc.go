// Package handshake opens weave-switch control connections: the TCP
// connections (port 6783) between routers that carry gossip. Client and
// Server run the handshake on an established net.Conn (version
// negotiation, then, with a shared password, a Noise NNpsk0 handshake, then
// the exchange of Hellos: name, nickname, UID, incarnation, capabilities)
// and return a Conn, a stream of typed messages of up to 1 MiB, encrypted
// and authenticated when there is a password. A Conn also hands out
// per-connection session keys for the data link (DataKeys).
//
// The package knows nothing of gossip: capabilities are an opaque map, and
// message types are the caller's. It starts no goroutines (ctx
// cancellation uses context.AfterFunc, which runs only if ctx is done
// while a handshake is in progress).
//
// # Message sequence
//
// The client writes first and the two sides strictly alternate, so the
// handshake also works over unbuffered pipes. Bracketed records exist only
// with a password; P is a preamble, N a Noise message, H a Hello.
//
//	client                                              server
//	  | P(magic, min..max version, password flag) ------->  |
//	  | <------------------------------------- P (always)   |  both: pick the highest
//	  |                                                     |  common version, compare
//	  |                                                     |  password flags
//	  | [N1: -> psk, e          (empty payload, 48 bytes)] > |  server checks the PSK
//	  | <  [N2: <- e, ee        (empty payload, 48 bytes)]   |  client checks the PSK
//	  | H (client Hello; sealed with a password) ---------> |
//	  | <------------------------------------ H (server)    |  server done
//	  |                                                     |  client done
//	  | <======== messages, both ways, any order =========> |
//
// A side that fails while the peer waits to read from it sends an alert
// record first (code and reason, plaintext), so both logs say the same
// thing. Negotiation failures need no alert from the client: the server
// finds the same failure from the same two preambles, and its preamble
// always goes out so that the client can name both version ranges.
//
// # Wire format
//
// The preamble, 18 bytes, is the same in every version:
//
//	magic "weave-switch\x00" (13) | min u16 | max u16 | flags u8 (bit 0: password)
//
// Weave Net's own 7-byte header ("weave" min max) is recognised and named
// in the error. Everything after the preamble is records:
//
//	 0               1               2               3
//	+---------------+---------------+---------------+---------------+
//	|     kind      |  flags (more) |         length (u16 BE)       |
//	+---------------+---------------+---------------+---------------+
//	|  body: length bytes; sealed: ciphertext then 16-byte tag ...  |
//
// kind is 1 Noise, 2 alert, 3 hello, 4 message. A hello or a message is
// its type byte (0 for a hello) then its payload, cut into fragments of
// 65519 bytes of plaintext (65535, Noise's limit, with the tag), all but
// the last flagged "more" and exactly full. With a password, hello and
// message bodies are sealed with ChaCha20-Poly1305 under the Noise
// transport key of their direction, nonce = the record counter (Noise's
// nonce format), additional data = the 4 header bytes. Integers are big
// endian. The Hello encoding is in hello.go.
//
// Decoders accept exactly these encodings and never allocate from a length
// field: a record body is at most 64 KiB, and a message is refused with
// ErrTooBig as soon as its record headers announce more than
// MaxMessageSize, before the body is read.
//
// # Crypto construction, and why
//
//   - PSK = Argon2id(password, salt "weave-switch/handshake/v1 psk",
//     t=3, m=32 MiB, p=2), 32 bytes. About 50 ms and 32 MiB of transient
//     memory on this project's 2-core machine, computed once per password
//     per process (cached), so only the first handshake pays it.
//   - Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s (github.com/flynn/noise), the
//     prologue being the client's then the server's preamble. Each side
//     proves it knows the PSK (N1 and N2 carry AEAD tags under keys mixed
//     from it), the keys come from a fresh ephemeral X25519 exchange per
//     connection (forward secrecy), and a man in the middle who rewrites a
//     preamble (to hide a version, or the password flag) breaks the
//     handshake instead of downgrading it.
//   - Hellos, thus names, UIDs, capabilities and any public keys in them,
//     travel only after the handshake, sealed: a passive observer learns
//     nothing but sizes; an active one without the password learns
//     nothing at all, and cannot change, drop or replay a capability, so
//     what routers choose from them (the link transport, the sleeve's
//     cipher) cannot be downgraded on the path.
//   - Each record is sealed with a counter nonce that only moves forward:
//     a replayed, reordered, dropped or modified record fails to open
//     (ErrAuth) and ends the connection.
//   - DataKeys = HKDF-SHA256(ikm = both transport keys, salt = the
//     handshake hash (channel binding), info = "... data key
//     client->server" or "server->client"): secret, forward secret,
//     independent of the control channel's keys, one per direction, new
//     for every connection.
//
// Weave Net (mesh) instead derives one session key SHA256(DH || password)
// from an unauthenticated NaCl box exchange, sends the version header and
// the encryption flag unauthenticated, and lets anyone who completes the
// DH (an active attacker) test password guesses offline at the cost of one
// SHA-256 each. Here the transcript is authenticated, keys are separated
// per direction and per purpose, and a guess costs an Argon2id
// derivation. No password-only protocol without a PAKE resists offline
// guessing entirely: an observer of N1 (NNpsk0) can test guesses against
// it, so use a long random password (the password file should hold 32
// random bytes), and let the caller throttle accepts as Weave did.
//
// # Failures
//
// Both sides report the same cause, wrapping the same sentinel:
//
//	version ranges disjoint   ErrVersion   "peer speaks protocol 3..4, we speak 1..1"
//	password on one side      ErrPassword  "peer requires a password" (the side without)
//	                                       "peer sent an unencrypted handshake but we
//	                                        require a password" (the side with one)
//	different passwords       ErrAuth      "authentication failed (wrong password?): ..."
//	                                       (the client: "... reported by peer: ...")
//	garbage, not weave-switch ErrProtocol  "peer is not a weave-switch router (bad magic ...)"
//	Weave Net router          ErrProtocol  "peer is a Weave Net router (mesh protocol 1..2) ..."
//	peer stalls               ErrTimeout   "handshake timed out after 10s (peer stalled?)"
//	ctx cancelled             ctx.Err()    "handshake aborted: context canceled ..."
//	peer hangs up             io.ErrUnexpectedEOF  "peer closed the connection during the
//	                                       handshake (wrong password?)"
//
// After the handshake, ReadMsg reports a tampered record as ErrAuth,
// garbage as ErrProtocol, an oversize message as ErrTooBig, a clean close
// as io.EOF. Errors are sticky: the stream cannot resynchronise.
package handshake
