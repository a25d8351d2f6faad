// Package meshsecret keeps a mesh's shared secret and encodes join
// tokens.
//
// A mesh always has a secret unless it is asked to run without one
// (--insecure). The first router started with no secret of its own makes
// one (LoadOrCreate) and keeps it in its data directory, readable by root
// only; every later start uses it again. The secret is printable text,
// so the file can also be handed to another host as its --password-file.
//
// A join token (Token, ParseToken) is the one string another host needs
// to join: the secret and the addresses to dial. Its text form is
//
//	"wsj" version-digit "_" base64url(payload), without padding
//
// and its payload, for version 1:
//
//	version u8 (1) | secret length u8 | secret | address count u8 |
//	addresses ... | CRC-32C u32 BE of every byte before it
//
// where each address is one of
//
//	4 | IPv4 (4) | port u16 BE
//	6 | IPv6 (16) | port u16 BE
//	0 | host name length u8 | host name | port u16 BE
//
// Every version ends with the same checksum, so a mistyped token is
// refused as such before its version is looked at. The package does no
// I/O except in the file functions, and is safe for concurrent use.
package meshsecret
