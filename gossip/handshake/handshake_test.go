package handshake

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
)

// want is the expected outcome of one side: success, or an error wrapping
// sentinel whose text contains msg.
type want struct {
	sentinel error
	msg      string
}

func checkOutcome(t *testing.T, side string, r result, w want) {
	t.Helper()
	if w.sentinel == nil {
		if r.err != nil {
			t.Errorf("%s: unexpected error: %v", side, r.err)
		}
		return
	}
	if r.err == nil {
		t.Errorf("%s: handshake succeeded, want error %q", side, w.msg)
		return
	}
	if !errors.Is(r.err, w.sentinel) || !strings.Contains(r.err.Error(), w.msg) {
		t.Errorf("%s: error %q, want one wrapping %q and containing %q", side, r.err, w.sentinel, w.msg)
	}
	t.Logf("%s: %v", side, r.err)
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name                   string
		client, server         Config
		wantVersion            uint16
		wantClient, wantServer want
	}{
		{name: "plain", client: testConfig(1, ""), server: testConfig(2, ""), wantVersion: 1},
		{name: "password", client: testConfig(1, "s3cret"), server: testConfig(2, "s3cret"), wantVersion: 1},
		{name: "no caps", client: func() Config { c := testConfig(1, "pw"); c.Caps = nil; c.Nickname = ""; return c }(),
			server: testConfig(2, "pw"), wantVersion: 1},
		// A Hello near MaxHelloSize spans two records.
		{name: "big caps", client: withCaps(testConfig(1, "pw"), 60000), server: withCaps(testConfig(2, "pw"), 65000),
			wantVersion: 1},
		{
			name: "wrong password", client: testConfig(1, "s3cret"), server: testConfig(2, "guess"),
			wantClient: want{ErrAuth, "authentication failed (wrong password?)"},
			wantServer: want{ErrAuth, "authentication failed (wrong password?)"},
		},
		{
			name: "password on client only", client: testConfig(1, "s3cret"), server: testConfig(2, ""),
			wantClient: want{ErrPassword, "peer sent an unencrypted handshake but we require a password"},
			wantServer: want{ErrPassword, "peer requires a password"},
		},
		{
			name: "password on server only", client: testConfig(1, ""), server: testConfig(2, "s3cret"),
			wantClient: want{ErrPassword, "peer requires a password"},
			wantServer: want{ErrPassword, "peer sent an unencrypted handshake but we require a password"},
		},
		{
			name: "version mismatch", client: withVersions(testConfig(1, ""), 3, 4), server: testConfig(2, ""),
			wantClient: want{ErrVersion, "peer speaks protocol 1..1, we speak 3..4"},
			wantServer: want{ErrVersion, "peer speaks protocol 3..4, we speak 1..1"},
		},
		{
			name: "version mismatch encrypted", client: testConfig(1, "pw"), server: withVersions(testConfig(2, "pw"), 2, 7),
			wantClient: want{ErrVersion, "peer speaks protocol 2..7, we speak 1..1"},
			wantServer: want{ErrVersion, "peer speaks protocol 1..1, we speak 2..7"},
		},
		{name: "highest common version", client: withVersions(testConfig(1, "pw"), 1, 3),
			server: withVersions(testConfig(2, "pw"), 2, 5), wantVersion: 3},
		{name: "same single version", client: withVersions(testConfig(1, ""), 4, 4),
			server: withVersions(testConfig(2, ""), 1, 9), wantVersion: 4},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr.name+"/"+tt.name, func(t *testing.T) {
				leakCheck(t)
				c, s := connPair(t, tr.real)
				cr, sr := handshakePair(t, context.Background(), c, s, tt.client, tt.server)
				checkOutcome(t, "client", cr, tt.wantClient)
				checkOutcome(t, "server", sr, tt.wantServer)
				if cr.err != nil || sr.err != nil {
					return
				}
				checkHello(t, cr.conn.Remote(), tt.server, tt.wantVersion)
				checkHello(t, sr.conn.Remote(), tt.client, tt.wantVersion)
			})
		}
	}
}

func withCaps(c Config, size int) Config {
	c.Caps = map[string]string{"pubkey": strings.Repeat("k", size/2), "params": strings.Repeat("p", size/2)}
	return c
}

func withVersions(c Config, lo, hi uint16) Config {
	c.minVersion, c.maxVersion = lo, hi
	return c
}

// checkHello checks that got is what a router configured with cfg said.
func checkHello(t *testing.T, got Hello, cfg Config, version uint16) {
	t.Helper()
	if got.Name != cfg.Name || got.Nickname != cfg.Nickname || got.UID != cfg.UID || got.Incarnation != cfg.Incarnation {
		t.Errorf("remote hello %+v, want identity of %+v", got, cfg)
	}
	if !maps.Equal(got.Caps, cfg.Caps) || got.Caps == nil {
		t.Errorf("remote caps %v, want %v (non-nil)", got.Caps, cfg.Caps)
	}
	if got.Version != version {
		t.Errorf("version %d, want %d", got.Version, version)
	}
	if got.Encrypted != (len(cfg.Password) > 0) {
		t.Errorf("Encrypted = %v with password %q", got.Encrypted, cfg.Password)
	}
}

func TestDataKeys(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			leakCheck(t)
			c1, s1 := established(t, tr.real, "pw")
			c2, s2 := established(t, tr.real, "pw")
			cs, cr, cok := c1.DataKeys()
			ss, sr, sok := s1.DataKeys()
			if !cok || !sok {
				t.Fatal("DataKeys not ok on an encrypted connection")
			}
			if cs != sr || cr != ss {
				t.Error("client send/recv keys are not the server's recv/send keys")
			}
			if cs == cr {
				t.Error("the two directions share a key")
			}
			if cs == [32]byte{} || cr == [32]byte{} {
				t.Error("zero key")
			}
			cs2, cr2, _ := c2.DataKeys()
			if cs2 == cs || cr2 == cr {
				t.Error("two connections share a key")
			}
			if ss2, _, _ := s2.DataKeys(); ss2 != cr2 {
				t.Error("second connection: keys not crosswise equal")
			}

			p1, _ := established(t, tr.real, "")
			if s, r, ok := p1.DataKeys(); ok || s != [32]byte{} || r != [32]byte{} {
				t.Error("DataKeys on an unencrypted connection: want zero keys, ok false")
			}
		})
	}
}

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name         string
		ours, theirs preamble
		want         uint16
		wantErr      string
	}{
		{"equal", preamble{min: 1, max: 1}, preamble{min: 1, max: 1}, 1, ""},
		{"overlap picks highest", preamble{min: 1, max: 3}, preamble{min: 2, max: 5}, 3, ""},
		{"inside", preamble{min: 1, max: 9}, preamble{min: 4, max: 4}, 4, ""},
		{"touching", preamble{min: 1, max: 2}, preamble{min: 2, max: 3}, 2, ""},
		{"peer newer", preamble{min: 1, max: 1}, preamble{min: 3, max: 4}, 0, "peer speaks protocol 3..4, we speak 1..1"},
		{"peer older", preamble{min: 5, max: 6}, preamble{min: 1, max: 4}, 0, "peer speaks protocol 1..4, we speak 5..6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiate(tt.ours, tt.theirs)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("negotiate = %d, %v; want error %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("negotiate = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"valid", func(*Config) {}, ""},
		{"no name", func(c *Config) { c.Name = 0 }, "invalid peer name"},
		{"no uid", func(c *Config) { c.UID = 0 }, "UID must be non-zero"},
		{"negative timeout", func(c *Config) { c.Timeout = -1 }, "negative"},
		{"long nickname", func(c *Config) { c.Nickname = strings.Repeat("x", 256) }, "nickname"},
		{"empty cap key", func(c *Config) { c.Caps = map[string]string{"": "x"} }, "capability key"},
		{"huge caps", func(c *Config) {
			c.Caps = map[string]string{"a": strings.Repeat("x", 40000), "b": strings.Repeat("y", 40000)}
		}, "too many capabilities"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(1, "pw")
			tt.edit(&cfg)
			err := cfg.Validate()
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
			if err != nil {
				// Client refuses it too, and closes the conn.
				leakCheck(t)
				c, _ := connPair(t, false)
				if _, herr := Client(context.Background(), c, cfg); herr == nil {
					t.Fatal("Client accepted an invalid config")
				}
			}
		})
	}
	cfg := testConfig(1, "pw")
	clone := cfg.Clone()
	clone.Password[0], clone.Caps["transport"] = 'X', "changed"
	if string(cfg.Password) != "pw" || cfg.Caps["transport"] != "sleeve quic" {
		t.Error("Clone shares Password or Caps")
	}
}
