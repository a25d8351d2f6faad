package mesh

import (
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/transport/sleeve"
)

// TestSleeveCipher runs meshes with a password over real encrypting
// sleeves: the cipher of a link comes from both ends' Hellos, shows in
// status, and a router forcing a cipher its peer does not accept (here a
// peer simulated without hardware AES) is refused with the reason in the
// dialer's status.
func TestSleeveCipher(t *testing.T) {
	autoAES := "chacha20-poly1305"
	if sleeve.HasHardwareAES() {
		autoAES = "aes256-gcm"
	}
	tests := []struct {
		name   string
		a, b   sleeve.Config
		want   string // "" = refused
		reason string
	}{
		{"both auto", sleeve.Config{}, sleeve.Config{}, autoAES, ""},
		{"peer without AES", sleeve.Config{}, sleeve.Config{NoHardwareAES: true}, "chacha20-poly1305", ""},
		{"forced aes, peer without AES", sleeve.Config{Cipher: sleeve.AES256GCM}, sleeve.Config{NoHardwareAES: true}, "",
			"no cipher in common: this router accepts chacha20-poly1305, the peer accepts aes256-gcm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leakcheck.Check(t, 5*time.Second)
			start := func(name frame.PeerName, cfg sleeve.Config, peers ...string) *node {
				t.Helper()
				cfg.Self, cfg.Encrypt = name, true
				cfg.Listen = netip.MustParseAddrPort("127.0.0.1:0")
				s, err := sleeve.New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				_, local, err := s.Open()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				rt := newFakeRouter()
				m, err := New(Config{
					Self: name, Password: []byte("cipher"), Listen: netip.MustParseAddrPort("127.0.0.1:0"), Peers: peers, NoDiscovery: true,
					Router: rt, Links: []Link{sleeve.NewLink(s, local.Port())}, MTU: 1402, HeartbeatInterval: 50 * time.Millisecond,
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				})
				if err != nil {
					t.Fatal(err)
				}
				if err := m.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { m.Close() })
				return &node{m: m, rt: rt}
			}
			a := start(0x020000000001, tt.a)
			b := start(0x020000000002, tt.b, a.addr())
			if tt.want == "" {
				waitFor(t, "b's dial refused", func() bool {
					cs := b.status().Connections
					return len(cs) == 1 && strings.Contains(cs[0].Reason, tt.reason)
				})
				cs := b.status().Connections[0]
				t.Logf("b's status: %s: %s", cs.State, cs.Reason)
				if cs.Peer != "" || cs.Cipher != "" {
					t.Errorf("refused link in status: %+v", cs)
				}
				return
			}
			for _, n := range []*node{a, b} {
				waitFor(t, "a link with a cipher", func() bool {
					cs := n.status().Connections
					return len(cs) == 1 && cs[0].Cipher != ""
				})
				if cs := n.status().Connections[0]; cs.Cipher != tt.want || !cs.Encrypted {
					t.Errorf("link %+v, want cipher %s", cs, tt.want)
				}
			}
		})
	}
}
