package main

import (
	"os/exec"
	"testing"
)

// TestEnvLines evaluates what env prints in a shell and checks what the
// shell then has.
func TestEnvLines(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh:", err)
	}
	tests := []struct {
		name   string
		script string
		want   string
	}{
		{"export keeps the old value", `DOCKER_HOST=tcp://h:2375; eval "$(printf '%s' "$LINE")"; echo "$DOCKER_HOST|$ORIG_DOCKER_HOST"`,
			"unix:///run/x y/docker.sock|tcp://h:2375\n"},
		{"restore", `ORIG_DOCKER_HOST=tcp://h:2375; DOCKER_HOST=x; eval "$RESTORE"; echo "$DOCKER_HOST|${ORIG_DOCKER_HOST-unset}"`,
			"tcp://h:2375|unset\n"},
		{"restore with nothing to restore", `DOCKER_HOST=x; eval "$EMPTY"; echo "${DOCKER_HOST-unset}"`, "unset\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(sh, "-c", tt.script)
			cmd.Env = []string{
				"LINE=" + exportLine("unix:///run/x y/docker.sock", "tcp://h:2375"),
				"RESTORE=" + restoreLine("tcp://h:2375"),
				"EMPTY=" + restoreLine(""),
			}
			out, err := cmd.Output()
			if err != nil || string(out) != tt.want {
				t.Errorf("%s: %q, %v; want %q", tt.script, out, err, tt.want)
			}
		})
	}
	if got := exportLine("unix:///a", "unix:///a"); got != "export DOCKER_HOST=unix:///a" {
		t.Errorf("a second env over the first = %q, want ORIG_DOCKER_HOST left alone", got)
	}
	if got := shellQuote("it's"); got != `'it'\''s'` {
		t.Errorf("shellQuote = %s", got)
	}
}
