package config

import (
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/internal/meshsecret"
)

func TestSecretPrecedence(t *testing.T) {
	token := meshsecret.Token{Secret: []byte("from-token"), Addrs: []string{"192.0.2.7:6783"}}.String()
	tests := []struct {
		name     string
		stored   string // kept in the data dir before the start, if not ""
		cfg      Config
		want     string // the secret; "*" for a new random one
		source   string
		wantFile string // the data dir's secret afterwards; "*" for the one made, "" for none
	}{
		{name: "nothing: made and kept", want: "*", source: meshsecret.FromCreated, wantFile: "*"},
		{name: "nothing, one kept", stored: "kept", want: "kept", source: meshsecret.FromStored, wantFile: "kept"},
		{name: "password wins over the kept one", stored: "kept", cfg: Config{Password: []byte("pw")}, want: "pw", source: meshsecret.FromPassword, wantFile: "kept"},
		{name: "password, none kept", cfg: Config{Password: []byte("pw")}, want: "pw", source: meshsecret.FromPassword},
		{name: "join token: kept for later starts", cfg: Config{Join: token}, want: "from-token", source: meshsecret.FromJoin, wantFile: "from-token"},
		{name: "join token replaces the kept one", stored: "kept", cfg: Config{Join: token}, want: "from-token", source: meshsecret.FromJoin, wantFile: "from-token"},
		{name: "insecure: no secret, the kept one untouched", stored: "kept", cfg: Config{Insecure: true}, want: "", source: meshsecret.None, wantFile: "kept"},
		{name: "insecure, none kept", cfg: Config{Insecure: true}, want: "", source: meshsecret.None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.stored != "" {
				if _, err := meshsecret.Store(dir, []byte(tt.stored)); err != nil {
					t.Fatal(err)
				}
			}
			c := tt.cfg
			c.DataDir = dir
			c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got, source, err := meshsecret.Resolve(c.WithDefaults().SecretOptions())
			if err != nil {
				t.Fatal(err)
			}
			if source != tt.source {
				t.Errorf("source %q, want %q", source, tt.source)
			}
			file, ferr := meshsecret.Load(dir)
			switch {
			case tt.want == "*" && (len(got) < 40 || string(file) != string(got)):
				t.Errorf("secret %q, file %q: want a new one, kept", got, file)
			case tt.want != "*" && string(got) != tt.want:
				t.Errorf("secret %q, want %q", got, tt.want)
			}
			switch {
			case tt.wantFile == "" && !os.IsNotExist(ferr):
				t.Errorf("data dir holds %q (%v), want no secret", file, ferr)
			case tt.wantFile != "" && tt.wantFile != "*" && string(file) != tt.wantFile:
				t.Errorf("data dir holds %q, want %q", file, tt.wantFile)
			}
			// A second start without the flags finds the same secret.
			if tt.source == meshsecret.FromCreated || tt.source == meshsecret.FromJoin {
				again, source, err := meshsecret.Resolve(Config{DataDir: dir}.WithDefaults().SecretOptions())
				if err != nil || string(again) != string(got) || source != meshsecret.FromStored {
					t.Errorf("restart: %q from %q (%v), want %q from the data dir", again, source, err, got)
				}
			}
		})
	}
}

func TestSecretClashes(t *testing.T) {
	token := meshsecret.Token{Secret: []byte("s"), Addrs: []string{"192.0.2.7:6783"}}.String()
	tests := []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"insecure and a password", Config{Insecure: true, Password: []byte("pw")}, "--insecure"},
		{"insecure and a token", Config{Insecure: true, Join: token}, "--insecure"},
		{"token and a password", Config{Join: token, Password: []byte("pw")}, "--join carries"},
		{"mistyped token", Config{Join: token[:len(token)-2] + "xx"}, "--join: join token: checksum"},
		{"not a token", Config{Join: "hello"}, "--join: join token: malformed"},
		{"long password", Config{Password: make([]byte, 300)}, "password: 300 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestJoinAddsPeers(t *testing.T) {
	token := meshsecret.Token{Secret: []byte("s"), Addrs: []string{"192.0.2.7:6783", "[2001:db8::7]:6783"}}.String()
	c := Config{Join: token, Peers: []string{"198.51.100.1"}}.WithDefaults()
	want := []string{"198.51.100.1", "192.0.2.7:6783", "[2001:db8::7]:6783"}
	if !slices.Equal(c.Peers, want) {
		t.Fatalf("peers %v, want %v", c.Peers, want)
	}
}
