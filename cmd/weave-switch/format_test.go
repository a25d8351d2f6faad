package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

func TestFmtSeconds(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "-"},
		{0.000312, "312µs"},
		{0.00125, "1.25ms"},
		{0.0123456, "12.3ms"},
		{2, "2s"},
		{0.5, "500ms"},
	}
	for _, tt := range tests {
		if got := fmtSeconds(tt.in); got != tt.want {
			t.Errorf("fmtSeconds(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFmtBytes(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0B"},
		{999, "999B"},
		{1000, "1.0K"},
		{12 << 10, "12K"},
		{1023 << 10, "1.0M"},
		{5 << 30, "5.0G"},
		{1 << 62, "4E"},
	}
	for _, tt := range tests {
		if got := fmtBytes(tt.in); got != tt.want || len(got) > 5 {
			t.Errorf("fmtBytes(%d) = %q, want %q (at most 5 characters)", tt.in, got, tt.want)
		}
	}
}

// The connections table fits 100 columns with the widest IPv4 address,
// a long nickname, the longest state and transport, and large counters.
func TestConnectionsWidth(t *testing.T) {
	conns := []api.Connection{{
		Peer: "02:00:00:00:00:02", Nickname: "a-very-long-nickname", Direction: "outbound",
		Address: "255.255.255.255:65535", State: "established", Transport: "wireguard", Fallback: "peer lacks quic",
		Encrypted: true, Cipher: "chacha20-poly1305", Datapath: "userspace", RTT: 0.0123456, TxBytes: 1023 << 30, RxBytes: 999 << 40,
		Reason: "", DatapathReason: "userspace datapath",
	}, {Direction: "inbound", Address: "[2001:db8::1]:6783", State: "retrying", Reason: "connection refused"}}
	var b bytes.Buffer
	printConnections(&b, conns)
	for _, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
		if strings.HasPrefix(l, "  ") {
			continue // a note: its length is its reason's
		}
		if n := len([]rune(l)); n > 100 {
			t.Errorf("%d columns: %q", n, l)
		}
	}
	for _, want := range []string{"TX", "RX", "1.0T", "999T", "12.3ms", "wireguard*", "fast path: userspace datapath", "cipher chacha20-poly1305"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want, b.String())
		}
	}
	t.Logf("\n%s", b.String())
}

// status --web prints the page's address, or says how to get one.
func TestStatusWeb(t *testing.T) {
	for _, tt := range []struct {
		addr, want string
		code       int
	}{
		{"0.0.0.0:6784", "http://127.0.0.1:6784/\n", 0},
		{"", "", 1},
	} {
		sock := filepath.Join(t.TempDir(), "api.sock")
		ln, err := api.Listen(sock)
		if err != nil {
			t.Fatal(err)
		}
		st := api.Status{Name: "02:00:00:00:00:01", HTTPAddr: tt.addr}
		stop := api.Serve(ln, api.NewHandler(api.Backends{Status: func() api.Status { return st }}), api.SocketTimeouts, slog.New(slog.DiscardHandler))
		app := newApp()
		out := new(bytes.Buffer)
		app.Writer = out
		err = app.RunContext(context.Background(), permuteArgs(app, []string{"ws", "status", "--web", "--api", sock}))
		stop()
		code := 0
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
			if !strings.Contains(err.Error(), "--http-addr") {
				t.Errorf("error %q does not name --http-addr", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.code || out.String() != tt.want {
			t.Errorf("http_addr %q: exit %d, printed %q; want %d, %q", tt.addr, code, out.String(), tt.code, tt.want)
		}
	}
}
