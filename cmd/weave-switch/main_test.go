package main

import (
	"slices"
	"testing"
)

func TestPermuteArgs(t *testing.T) {
	app := newApp()
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"flags after args", []string{"ws", "status", "peers", "--json", "--api", "/s"}, []string{"ws", "status", "--json", "--api", "/s", "peers"}},
		{"flags first", []string{"ws", "status", "--api", "/s", "peers"}, []string{"ws", "status", "--api", "/s", "peers"}},
		{"equals form", []string{"ws", "attach", "ns1", "--api=/s", "10.32.0.1/12"}, []string{"ws", "attach", "--api=/s", "ns1", "10.32.0.1/12"}},
		{"double dash", []string{"ws", "attach", "--", "-odd", "--api"}, []string{"ws", "attach", "--", "-odd", "--api"}},
		{"no command", []string{"ws", "--version"}, []string{"ws", "--version"}},
		{"bool flag takes no value", []string{"ws", "up", "--no-discovery", "--offer", "quic"}, []string{"ws", "up", "--no-discovery", "--offer", "quic"}},
		{"unknown command", []string{"ws", "nope", "--x"}, []string{"ws", "nope", "--x"}},
		{"global api", []string{"ws", "--api", "/g", "status", "peers"}, []string{"ws", "status", "--api", "/g", "peers"}},
		{"global api with equals", []string{"ws", "--api=/g", "status"}, []string{"ws", "status", "--api=/g"}},
		{"global and local api: the local wins", []string{"ws", "--api", "/g", "status", "--api", "/l"}, []string{"ws", "status", "--api", "/g", "--api", "/l"}},
		{"global api, command without one", []string{"ws", "--api", "/g", "bench"}, []string{"ws", "--api", "/g", "bench"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := permuteArgs(app, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("permuteArgs(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestClosest(t *testing.T) {
	names := []string{"status", "attach", "detach", "up", "down", "reset", "completion"}
	tests := []struct{ typed, want string }{
		{"stauts", "status"},
		{"statsu", "status"},
		{"atach", "attach"},
		{"dwn", "down"},
		{"nope", ""},
		{"x", ""},
		{"compleshun", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.typed, names); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.typed, got, tt.want)
		}
	}
}
