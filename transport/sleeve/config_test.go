package sleeve

import (
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"net/netip"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  *Config
		err  string // "" for valid
	}{
		{"nil", nil, "nil config"},
		{"no Self", &Config{}, "Self is required"},
		{"Self too big", &Config{Self: 1 << 48}, "48 bits"},
		{"minimal", &Config{Self: peerA}, ""},
		{"MTU too small", &Config{Self: peerA, UnderlayMTU: 575}, "UnderlayMTU 575"},
		{"MTU too big", &Config{Self: peerA, UnderlayMTU: 65536}, "UnderlayMTU 65536"},
		{"MTU jumbo", &Config{Self: peerA, UnderlayMTU: 9000}, ""},
		{"BatchSize negative", &Config{Self: peerA, BatchSize: -1}, "BatchSize -1"},
		{"BatchSize too big", &Config{Self: peerA, BatchSize: MaxBatchSize + 1}, "BatchSize"},
		{"SocketBuffer negative", &Config{Self: peerA, SocketBuffer: -1}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.err == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Errorf("Validate: %v, want an error mentioning %q", err, tt.err)
			}
			if tt.cfg != nil {
				if _, err2 := New(*tt.cfg); (err2 == nil) != (err == nil) {
					t.Errorf("New: %v, Validate: %v", err2, err)
				}
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	var nilCfg *Config
	d := nilCfg.withDefaults()
	if d.Listen != netip.MustParseAddrPort("0.0.0.0:6783") || d.UnderlayMTU != 1500 ||
		d.SocketBuffer != 4<<20 || d.BatchSize != udpbatch.DefaultBatchSize {
		t.Errorf("defaults: %+v", d)
	}
	c := &Config{Self: peerA, UnderlayMTU: 9000}
	if d := c.withDefaults(); d.UnderlayMTU != 9000 || d.Self != peerA {
		t.Errorf("withDefaults overrode set fields: %+v", d)
	}
	cl := c.Clone()
	cl.UnderlayMTU = 1280
	if c.UnderlayMTU != 9000 || nilCfg.Clone() != nil {
		t.Error("Clone shares state")
	}
	s, err := New(Config{Self: peerA})
	if err != nil {
		t.Fatal(err)
	}
	// The overlay MTU on a 1500-byte IPv4 underlay: 1500 - 60 - 14 (IPv4,
	// UDP, header, frame header, GSO descriptor; Ethernet header).
	if s.Overhead() != 60 || 1500-s.Overhead()-14 != 1426 {
		t.Errorf("Overhead = %d", s.Overhead())
	}
	if s.BatchSize() != udpbatch.DefaultBatchSize {
		t.Errorf("BatchSize = %d", s.BatchSize())
	}
}

func TestParseEndpoint(t *testing.T) {
	v4, err := New(Config{Self: peerA})
	if err != nil {
		t.Fatal(err)
	}
	v6, err := New(Config{Self: peerA, Listen: netip.MustParseAddrPort("[::]:6783")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		dual bool
		want string // "" for an error
	}{
		{"192.0.2.1:7000", false, "192.0.2.1:7000"},
		{"192.0.2.1", false, "192.0.2.1:6783"},
		{"localhost", false, "127.0.0.1:6783"},
		{"localhost:7000", false, "127.0.0.1:7000"},
		{"[::ffff:192.0.2.1]:5", false, "192.0.2.1:5"},
		{"[::1]:5", false, ""}, // IPv6 on an IPv4-only sleeve
		{"[::1]:5", true, "[::1]:5"},
		{"::1", true, "[::1]:6783"},
		{"[2001:db8::1]", true, "[2001:db8::1]:6783"},
		{"192.0.2.1:0", false, ""},
		{"192.0.2.1:99999", false, ""},
		{"192.0.2.1:nope", false, ""},
		{":6783", false, ""},
		{"", false, ""},
	}
	for _, tt := range tests {
		s := v4
		if tt.dual {
			s = v6
		}
		ep, err := s.ParseEndpoint(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ParseEndpoint(%q) = %v, want an error", tt.in, ep)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", tt.in, err)
			continue
		}
		if ep.String() != tt.want || ep.DstAddrPort().String() != tt.want {
			t.Errorf("ParseEndpoint(%q) = %v, want %s", tt.in, ep, tt.want)
		}
	}
}
