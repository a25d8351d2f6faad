package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/transport"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{name: "defaults", cfg: Config{}},
		{name: "good name", cfg: Config{Name: "02:00:00:00:00:01"}},
		{name: "bad name", cfg: Config{Name: "zz"}, want: "--name"},
		{name: "zero name", cfg: Config{Name: "00:00:00:00:00:00"}, want: "reserved"},
		{name: "bad listen", cfg: Config{Listen: "nowhere:x"}, want: "--listen"},
		{name: "long bridge", cfg: Config{Bridge: "a-very-long-bridge-name"}, want: "--bridge"},
		{name: "mtu too small", cfg: Config{MTU: 100}, want: "--mtu"},
		{name: "empty peer", cfg: Config{Peers: []string{""}}, want: "--peer"},
		{name: "vxlan with a password", cfg: Config{Password: []byte("pw"), Datapath: "vxlan"}, want: "--fastpath-unencrypted"},
		{name: "vxlan with a password, unencrypted", cfg: Config{Password: []byte("pw"), Datapath: "vxlan", FastPathUnencrypted: true}},
		{name: "auto with a password", cfg: Config{Password: []byte("pw"), Datapath: "auto"}},
		{name: "cipher aes", cfg: Config{Password: []byte("pw"), Cipher: "aes256-gcm"}},
		{name: "cipher chacha", cfg: Config{Cipher: "chacha20-poly1305"}},
		{name: "cipher auto", cfg: Config{Cipher: "auto"}},
		{name: "bad cipher", cfg: Config{Cipher: "aes"}, want: "--cipher"},
		{name: "cipher without a secret", cfg: Config{Insecure: true, Cipher: "aes256-gcm"}, want: "--insecure mesh encrypts nothing"},
		{name: "cipher auto without a secret", cfg: Config{Insecure: true, Cipher: "auto"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		in   string
		want netip.AddrPort
		bad  bool
	}{
		{in: ":6783", want: netip.MustParseAddrPort("0.0.0.0:6783")},
		{in: "198.18.0.1:7000", want: netip.MustParseAddrPort("198.18.0.1:7000")},
		{in: "198.18.0.1", want: netip.MustParseAddrPort("198.18.0.1:6783")},
		{in: "[::1]:6783", want: netip.MustParseAddrPort("[::1]:6783")},
		{in: ":99999", bad: true},
		{in: "host:1", bad: true},
	}
	for _, tt := range tests {
		got, err := transport.ParseListen(tt.in, DefaultPort)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("ParseListen(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
