package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name, level, format string
		wantErr             string // "" if valid
		wantOut             string // prefix of a Warn line, if valid
		debug               bool   // whether Debug lines are logged
	}{
		{"defaults", "info", "text", "", "time=", false},
		{"json", "debug", "json", "", `{"time":`, true},
		{"upper case", "WARN", "JSON", "", `{"time":`, false},
		{"error level", "error", "text", "", "", false},
		{"bad level", "verbose", "text", "--log-level", "", false},
		{"level with offset", "info+2", "text", "--log-level", "", false},
		{"bad format", "info", "xml", "--log-format", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l, err := newLogger(&buf, new(slog.LevelVar), tt.level, tt.format)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line starting with %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("d")
			if got := buf.Len() > 0; got != tt.debug {
				t.Errorf("Debug logged: %v, want %v", got, tt.debug)
			}
			buf.Reset()
			l.Warn("w", "k", 1)
			if !strings.HasPrefix(buf.String(), tt.wantOut) || (tt.wantOut == "") != (buf.Len() == 0) {
				t.Errorf("Warn line %q, want prefix %q", buf.String(), tt.wantOut)
			}
		})
	}
}

// A bad --log-format, --log-level or --cipher stops `up` before it does anything,
// with a usage exit code. (The invalid --transport keeps `up` from
// starting a router should the log flags be let through.)
func TestUpRejectsBadLogFlags(t *testing.T) {
	for _, args := range [][]string{
		{"ws", "up", "--log-format", "xml", "--transport", "none"},
		{"ws", "up", "--log-level", "loud", "--transport", "none"},
		{"ws", "up", "--cipher", "rot13", "--transport", "none"},
	} {
		err := newApp().RunContext(context.Background(), args)
		var ec cli.ExitCoder
		if !errors.As(err, &ec) || ec.ExitCode() != 2 || !strings.Contains(err.Error(), args[2]) {
			t.Errorf("%q: %v, want exit code 2 naming %s", args, err, args[2])
		}
	}
}
