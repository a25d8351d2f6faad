package meshsecret

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
)

func TestTokenRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		tok  Token
	}{
		{"ipv4", Token{Secret: []byte("s3cret"), Addrs: []string{"192.0.2.1:6783"}}},
		{"ipv6 and name", Token{Secret: []byte("x"), Addrs: []string{"[2001:db8::1]:6783", "router-1.example.com:7000"}}},
		{"no address", Token{Secret: []byte(strings.Repeat("k", MaxSecret))}},
		{"max addresses", Token{Secret: []byte("k"), Addrs: slices.Repeat([]string{"10.0.0.1:1"}, MaxAddresses)}},
		{"binary secret", Token{Secret: []byte{0, 1, 2, 255, '\n'}, Addrs: []string{"10.1.2.3:65535"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.tok.String()
			if !strings.HasPrefix(s, "wsj1_") {
				t.Fatalf("token %q lacks the prefix", s)
			}
			got, err := ParseToken("  " + s + "\n")
			if err != nil {
				t.Fatalf("ParseToken(%q): %v", s, err)
			}
			if string(got.Secret) != string(tt.tok.Secret) || !slices.Equal(got.Addrs, tt.tok.Addrs) {
				t.Fatalf("round trip: got %+v, want %+v", got, tt.tok)
			}
		})
	}
}

func TestTokenInvalid(t *testing.T) {
	tests := []struct {
		name string
		tok  Token
	}{
		{"no secret", Token{Addrs: []string{"10.0.0.1:6783"}}},
		{"long secret", Token{Secret: make([]byte, MaxSecret+1)}},
		{"no port", Token{Secret: []byte("k"), Addrs: []string{"10.0.0.1"}}},
		{"port 0", Token{Secret: []byte("k"), Addrs: []string{"10.0.0.1:0"}}},
		{"zone", Token{Secret: []byte("k"), Addrs: []string{"[fe80::1%eth0]:6783"}}},
		{"bad name", Token{Secret: []byte("k"), Addrs: []string{"a b:6783"}}},
		{"too many", Token{Secret: []byte("k"), Addrs: slices.Repeat([]string{"10.0.0.1:1"}, MaxAddresses+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.tok.Validate(); err == nil {
				t.Fatal("Validate accepted it")
			}
			if s := tt.tok.String(); s != "" {
				t.Fatalf("String = %q, want empty", s)
			}
		})
	}
}

func TestTokenTypo(t *testing.T) {
	s := Token{Secret: []byte("0123456789abcdef0123456789abcdef"), Addrs: []string{"192.0.2.1:6783"}}.String()
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	// Every single-character change of the payload is refused.
	for i := len("wsj1_"); i < len(s); i++ {
		for _, c := range alphabet {
			if byte(c) == s[i] {
				continue
			}
			bad := s[:i] + string(c) + s[i+1:]
			if _, err := ParseToken(bad); err == nil {
				t.Fatalf("ParseToken accepted %q (changed at %d)", bad, i)
			}
		}
	}
	if _, err := ParseToken(s[:len(s)-3]); err == nil {
		t.Fatal("ParseToken accepted a truncated token")
	}
	// A change that keeps the base64 valid is a checksum error.
	b := []byte(s)
	b[len("wsj1_")+3] ^= 1
	if _, err := ParseToken(string(b)); !errors.Is(err, ErrChecksum) {
		t.Fatalf("flipped character: err = %v, want ErrChecksum", err)
	}
}

func TestTokenVersion(t *testing.T) {
	p, err := Token{Secret: []byte("k"), Addrs: []string{"10.0.0.1:6783"}}.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	p[0] = 2
	p = reseal(p)
	_, err = ParseToken("wsj2_" + base64.RawURLEncoding.EncodeToString(p))
	if !errors.Is(err, ErrVersion) {
		t.Fatalf("version 2: err = %v, want ErrVersion", err)
	}
	for _, s := range []string{"", "wsj1", "abc_def", "wsj1_!!!", "wsj1_AAAA"} {
		if _, err := ParseToken(s); !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChecksum) {
			t.Errorf("ParseToken(%q): err = %v, want ErrMalformed or ErrChecksum", s, err)
		}
	}
}

// reseal recomputes p's checksum after an edit.
func reseal(p []byte) []byte {
	body := append([]byte(nil), p[:len(p)-4]...)
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, castagnoli))
}

func FuzzParseToken(f *testing.F) {
	valid := Token{Secret: []byte("s3cret"), Addrs: []string{"192.0.2.1:6783", "[2001:db8::1]:6783", "h.example:1"}}
	f.Add(valid.String())
	p, _ := valid.Append(nil)
	f.Add("wsj1_" + base64.RawURLEncoding.EncodeToString(p[:len(p)-6])) // truncated
	p[0] = 9
	f.Add("wsj1_" + base64.RawURLEncoding.EncodeToString(reseal(p)))                                   // unknown version
	f.Add("wsj1_" + base64.RawURLEncoding.EncodeToString(reseal([]byte{1, 1, 'k', 200, 0, 0, 0, 0})))  // count past the limit
	f.Add("wsj1_" + base64.RawURLEncoding.EncodeToString(reseal([]byte{1, 1, 'k', 1, 7, 0, 0, 0, 0}))) // unknown address kind
	f.Add("wsj1_AAAA")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := ParseToken(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrChecksum) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error %v is none of the sentinels", err)
			}
			return
		}
		// err == nil ⇔ a valid token, which encodes back to itself.
		if err := tok.Validate(); err != nil {
			t.Fatalf("decoded an invalid token %+v: %v", tok, err)
		}
		again, err := ParseToken(tok.String())
		if err != nil || string(again.Secret) != string(tok.Secret) || !slices.Equal(again.Addrs, tok.Addrs) {
			t.Fatalf("re-encoding %+v: got %+v, %v", tok, again, err)
		}
	})
}
