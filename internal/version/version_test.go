package version

import (
	"runtime/debug"
	"testing"
)

func TestStampedVersion(t *testing.T) {
	set := func(kv ...string) []debug.BuildSetting {
		var out []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			out = append(out, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{"no build info", nil, false, "dev"},
		{"no vcs stamp", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "dev"},
		{"go install at a version", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}, true, "v1.2.3"},
		{"clean checkout", &debug.BuildInfo{Settings: set("vcs.revision", "0123456789abcdef0123", "vcs.modified", "false")}, true, "0123456789ab"},
		{"modified checkout", &debug.BuildInfo{Settings: set("vcs.revision", "0123456789abcdef0123", "vcs.modified", "true")}, true, "0123456789ab-dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := stampedVersion(tt.bi, tt.ok); got != tt.want {
				t.Errorf("stampedVersion = %q, want %q", got, tt.want)
			}
		})
	}
}
