package sleeve

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/link"
)

func TestParseCipher(t *testing.T) {
	for _, c := range []Cipher{CipherAuto, ChaCha20Poly1305, AES256GCM} {
		got, err := ParseCipher(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCipher(%q) = %v, %v", c.String(), got, err)
		}
	}
	if c, err := ParseCipher(""); err != nil || c != CipherAuto {
		t.Errorf(`ParseCipher("") = %v, %v; want auto`, c, err)
	}
	for _, s := range []string{"aes", "AES256-GCM", "chacha20", "aes128-gcm", " auto"} {
		if _, err := ParseCipher(s); err == nil {
			t.Errorf("ParseCipher(%q): no error", s)
		}
	}
	if err := (&Config{Self: peerA, Cipher: 9}).Validate(); err == nil {
		t.Error("Validate accepted cipher 9")
	}
}

// TestNegotiateCipher: every pair of settings, both ways round (the rule
// is symmetric), including a peer without hardware AES and a router that
// announces no ciphers.
func TestNegotiateCipher(t *testing.T) {
	var (
		autoHW   = acceptedCiphers(CipherAuto, true)
		autoNoHW = acceptedCiphers(CipherAuto, false)
		aesOnly  = acceptedCiphers(AES256GCM, true)
		aesNoHW  = acceptedCiphers(AES256GCM, false) // asked for explicitly
		chacha   = acceptedCiphers(ChaCha20Poly1305, true)
		older    = parseCiphers("") // announces nothing
	)
	const refused = CipherAuto
	tests := []struct {
		name     string
		a, b     []Cipher
		want     Cipher
		wantHint string
	}{
		{"both auto with hardware AES", autoHW, autoHW, AES256GCM, ""},
		{"auto, peer without hardware AES", autoHW, autoNoHW, ChaCha20Poly1305, ""},
		{"both without hardware AES", autoNoHW, autoNoHW, ChaCha20Poly1305, ""},
		{"auto, peer forces chacha", autoHW, chacha, ChaCha20Poly1305, ""},
		{"auto, peer forces aes", autoHW, aesOnly, AES256GCM, ""},
		{"both force aes", aesOnly, aesOnly, AES256GCM, ""},
		{"aes forced without hardware AES, auto peer with", aesNoHW, autoHW, AES256GCM, ""},
		{"aes forced, peer without hardware AES", aesOnly, autoNoHW, refused, "the peer has no hardware AES"},
		{"aes forced, peer forces chacha", aesOnly, chacha, refused, "no hardware AES or runs with --cipher chacha20-poly1305"},
		{"auto, older peer", autoHW, older, ChaCha20Poly1305, ""},
		{"aes forced, older peer", aesOnly, older, refused, "--cipher auto here"},
		{"peer announces only unknown ciphers", autoHW, parseCiphers("rot13,aes512-ocb"), refused, "accepts none known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, dir := range []struct {
				ours, theirs []Cipher
			}{{tt.a, tt.b}, {tt.b, tt.a}} {
				got, err := NegotiateCipher(dir.ours, dir.theirs)
				if tt.want == refused {
					if err == nil {
						t.Fatalf("%v with %v: chose %v, want an error", dir.ours, dir.theirs, got)
					}
					t.Log(err)
					continue
				}
				if err != nil || got != tt.want {
					t.Fatalf("%v with %v: %v, %v; want %v", dir.ours, dir.theirs, got, err, tt.want)
				}
			}
			if tt.want == refused {
				_, err := NegotiateCipher(tt.a, tt.b)
				if !strings.Contains(err.Error(), tt.wantHint) {
					t.Errorf("error %q does not say %q", err, tt.wantHint)
				}
			}
		})
	}
}

func TestParseCiphers(t *testing.T) {
	tests := []struct {
		in   string
		want []Cipher
	}{
		{"", []Cipher{ChaCha20Poly1305}},
		{"aes256-gcm,chacha20-poly1305", []Cipher{AES256GCM, ChaCha20Poly1305}},
		{"chacha20-poly1305", []Cipher{ChaCha20Poly1305}},
		{"future-aead, aes256-gcm", []Cipher{AES256GCM}},
		{"auto", nil}, // not a cipher
		{"aes256-gcm,aes256-gcm", []Cipher{AES256GCM}},
		{",,", nil},
	}
	for _, tt := range tests {
		if got := parseCiphers(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("parseCiphers(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, cs := range [][]Cipher{acceptedCiphers(CipherAuto, true), acceptedCiphers(CipherAuto, false), {AES256GCM}} {
		if got := parseCiphers(formatCiphers(cs)); !slices.Equal(got, cs) {
			t.Errorf("round trip of %v: %v", cs, got)
		}
	}
}

// TestLinkCipher sets up links between Sleeves of every setting, as the
// mesh does from each other's caps: both ends choose the same cipher or
// both refuse, and frames cross the links they set up. A host without
// hardware AES is simulated with Config.NoHardwareAES; on a CPU without
// it every Sleeve is one.
func TestLinkCipher(t *testing.T) {
	hw := HasHardwareAES()
	t.Logf("hardware AES: %v", hw)
	autoAES := ChaCha20Poly1305
	if hw {
		autoAES = AES256GCM
	}
	type side struct {
		cipher Cipher
		noAES  bool
	}
	const refused = CipherAuto
	tests := []struct {
		name string
		a, b side
		want Cipher
	}{
		{"both auto", side{}, side{}, autoAES},
		{"peer without AES", side{}, side{noAES: true}, ChaCha20Poly1305},
		{"auto and forced chacha", side{}, side{cipher: ChaCha20Poly1305}, ChaCha20Poly1305},
		{"forced aes and peer without AES", side{cipher: AES256GCM}, side{noAES: true}, refused},
		{"forced aes and forced chacha", side{cipher: AES256GCM}, side{cipher: ChaCha20Poly1305}, refused},
		{"forced aes both, one without AES", side{cipher: AES256GCM, noAES: true}, side{cipher: AES256GCM}, AES256GCM},
	}
	ip := netip.MustParseAddr("127.0.0.1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakCheck(t)
			a := openSleeve(t, Config{Self: peerA, Encrypt: true, Cipher: tt.a.cipher, NoHardwareAES: tt.a.noAES})
			b := openSleeve(t, Config{Self: peerB, Encrypt: true, Cipher: tt.b.cipher, NoHardwareAES: tt.b.noAES})
			la, lb := NewLink(a.s, a.addr.Port()), NewLink(b.s, b.addr.Port())
			ab, ba := testKey("link/a->b"), testKey("link/b->a")
			epB, errA := la.Add(peerB, ip, lb.Caps(), link.Keys{Send: ab, Recv: ba, OK: true}, true)
			_, errB := lb.Add(peerA, ip, la.Caps(), link.Keys{Send: ba, Recv: ab, OK: true}, false)
			if tt.want == refused {
				if errA == nil || errB == nil {
					t.Fatalf("Add: %v, %v; want both refused", errA, errB)
				}
				t.Log(errA)
				if _, ok := la.Cipher(peerB); ok {
					t.Error("a refused link has a cipher")
				}
				if err := a.s.Send(oneFrame(1), b.ep); !errors.Is(err, ErrNoKey) {
					t.Errorf("Send over a refused link: %v, want ErrNoKey", err)
				}
				return
			}
			if errA != nil || errB != nil {
				t.Fatalf("Add: %v, %v", errA, errB)
			}
			ca, _ := la.Cipher(peerB)
			cb, _ := lb.Cipher(peerA)
			if ca != tt.want || cb != tt.want {
				t.Fatalf("ciphers %v and %v, want %v", ca, cb, tt.want)
			}
			out := makeBatch([]int{60, 1400, frame.MaxFrameSize})
			if err := a.s.Send(out, epB); err != nil {
				t.Fatal(err)
			}
			checkReceived(t, b.receiveN(t, makeBatch(repeat(3, frame.MaxFrameSize)), 3), out, a)
			la.Remove(peerB)
			if _, ok := la.Cipher(peerB); ok {
				t.Error("a removed link has a cipher")
			}
		})
	}
}

// TestCipherMismatch: datagrams sealed with the other cipher under the
// same keys are refused (DropAuth): the cipher is part of a key.
func TestCipherMismatch(t *testing.T) {
	leakCheck(t)
	a := openSleeve(t, Config{Self: peerA, Encrypt: true})
	b := openSleeve(t, Config{Self: peerB, Encrypt: true})
	ab, ba := testKey("mismatch/a->b"), testKey("mismatch/b->a")
	if err := a.s.SetCipherKeys(peerB, b.addr, AES256GCM, ab, ba); err != nil {
		t.Fatal(err)
	}
	if err := b.s.SetCipherKeys(peerA, a.addr, ChaCha20Poly1305, ba, ab); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Send(oneFrame(1), b.ep); err != nil {
		t.Fatal(err)
	}
	b.idle(t)
	if got := b.s.Stats().Dropped[DropAuth]; got != 1 {
		t.Errorf("DropAuth = %d, want 1", got)
	}
	if err := a.s.SetCipherKeys(peerB, b.addr, CipherAuto, ab, testKey("x")); err == nil {
		t.Error("SetCipherKeys with CipherAuto: no error")
	}
}

// FuzzParseCiphers feeds a peer's CapCiphers value (from its Hello) to
// the parser and the negotiation: the ciphers read are valid and distinct,
// format back to themselves, and negotiating with every setting of this
// router gives the same answer both ways round, a cipher both accept or
// an error.
func FuzzParseCiphers(f *testing.F) {
	f.Add("aes256-gcm,chacha20-poly1305")
	f.Add("chacha20-poly1305")
	f.Add("")
	// Malformed seeds:
	f.Add("aes256-gcm,,aes256-gcm") // empty and repeated entries
	f.Add(" chacha20-poly1305 ,x")  // spaces, an unknown cipher
	f.Add("auto")                   // a setting, not a cipher
	f.Add("\xff\x00,aes256-gcm")    // not UTF-8
	f.Fuzz(func(t *testing.T, v string) {
		cs := parseCiphers(v)
		seen := map[Cipher]bool{}
		for _, c := range cs {
			if !c.valid() || seen[c] {
				t.Fatalf("parseCiphers(%q) = %v: invalid or repeated", v, cs)
			}
			seen[c] = true
		}
		if len(cs) > 0 && !slices.Equal(parseCiphers(formatCiphers(cs)), cs) {
			t.Fatalf("%v does not round-trip", cs)
		}
		for _, set := range []Cipher{CipherAuto, ChaCha20Poly1305, AES256GCM} {
			for _, hw := range []bool{false, true} {
				ours := acceptedCiphers(set, hw)
				c1, err1 := NegotiateCipher(ours, cs)
				c2, err2 := NegotiateCipher(cs, ours)
				if (err1 == nil) != (err2 == nil) || c1 != c2 {
					t.Fatalf("%v with %v: %v, %v; the other way: %v, %v", ours, cs, c1, err1, c2, err2)
				}
				if err1 == nil && (!slices.Contains(ours, c1) || !slices.Contains(cs, c1)) {
					t.Fatalf("%v with %v: chose %v, which one of them does not accept", ours, cs, c1)
				}
			}
		}
	})
}
