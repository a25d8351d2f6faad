package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/config"
)

func TestSplitPeers(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"repeated flags", []string{"a", "b:7000"}, []string{"a", "b:7000"}},
		{"env with spaces and commas", []string{"a b,c"}, []string{"a", "b", "c"}},
		{"an option stays with its peer", []string{"h1,transport=quic h2"}, []string{"h1,transport=quic", "h2"}},
		{"option then another peer", []string{"h1,transport=wireguard,h2"}, []string{"h1,transport=wireguard", "h2"}},
		{"blanks", []string{"  ", ",,"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := splitPeers(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("splitPeers(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	if got := splitList([]string{"wireguard quic", "a,b"}); !slices.Equal(got, []string{"wireguard", "quic", "a", "b"}) {
		t.Errorf("splitList = %q", got)
	}
}

// An unhealthy router makes `status` exit 3; a section of it does not.
func TestStatusExitCode(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := api.Status{Name: "02:00:00:00:00:01", Connections: []api.Connection{{Peer: "02:00:00:00:00:02", State: "retrying"}}}
	stop := api.Serve(ln, api.NewHandler(api.Backends{Status: func() api.Status { return st }}), api.SocketTimeouts, slog.New(slog.DiscardHandler))
	defer stop()
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"ws", "--api", sock, "status"}, exitUnhealthy},
		{[]string{"ws", "status", "--json", "--api", sock}, exitUnhealthy},
		{[]string{"ws", "status", "peers", "--api", sock}, 0},
	} {
		app := newApp()
		app.Writer = new(bytes.Buffer)
		err := app.RunContext(context.Background(), permuteArgs(app, tt.args))
		code := 0
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		} else if err != nil {
			t.Fatalf("%q: %v", tt.args, err)
		}
		if code != tt.code {
			t.Errorf("%q: exit %d (%v), want %d", tt.args, code, err, tt.code)
		}
	}
}

// A reload applies log-level, leaves settings fixed by flags alone and
// reads peer lists as the environment's.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("log-level: info\nbridge: weave\n")
	old, err := readSettings(file)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	lv := new(slog.LevelVar)
	u := &upRun{cfg: config.Config{API: filepath.Join(dir, "none.sock"), Logger: slog.New(slog.NewTextHandler(&logs, nil))},
		level: lv, file: file, fixed: map[string]bool{}}
	write("log-level: debug\nbridge: other\npeer: [\"a b\", c]\n")
	cur := u.reload(context.Background(), old)
	if lv.Level() != slog.LevelDebug {
		t.Errorf("level %v after reload, want debug", lv.Level())
	}
	if got := cur.list("peer", splitPeers); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("peers %q", got)
	}
	for _, want := range []string{"setting=bridge", "next start", "peer not added"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("reload log lacks %q:\n%s", want, logs.String())
		}
	}
	u.fixed["log-level"] = true
	write("log-level: error\n")
	u.reload(context.Background(), cur)
	if lv.Level() != slog.LevelDebug {
		t.Errorf("a reload changed a log level given by flag: %v", lv.Level())
	}
}
