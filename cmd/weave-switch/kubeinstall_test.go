package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInstallCNI(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin")
	binDir, confDir := filepath.Join(dir, "bin"), filepath.Join(dir, "net.d")
	for _, d := range []string{binDir, confDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(plugin, []byte("v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := installCNI(plugin, binDir, confDir, defaultConflist, "weave-switch", "/run/weave-switch/weave-switch.sock"); err != nil {
		t.Fatal(err)
	}
	// A second install (the pod restarted with a newer image) replaces both.
	if err := os.WriteFile(plugin, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := installCNI(plugin, binDir, confDir, defaultConflist, "pods", "/s.sock"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(binDir, cniPluginName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o755 {
		t.Errorf("plugin mode %v, want 0755", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(filepath.Join(binDir, cniPluginName)); string(b) != "v2" {
		t.Errorf("plugin holds %q, want v2", b)
	}
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []struct {
			Type string `json:"type"`
			API  string `json:"api"`
		} `json:"plugins"`
	}
	b, err := os.ReadFile(filepath.Join(confDir, defaultConflist))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	if conf.CNIVersion != "1.1.0" || conf.Name != "pods" || len(conf.Plugins) != 1 || conf.Plugins[0].Type != cniPluginName || conf.Plugins[0].API != "/s.sock" {
		t.Errorf("conflist %s", b)
	}
	for _, d := range []string{binDir, confDir} {
		ents, _ := os.ReadDir(d)
		if len(ents) != 1 {
			t.Errorf("%s holds %d files, want 1 (no temporary left)", d, len(ents))
		}
	}
}

func TestInstallCNIErrors(t *testing.T) {
	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin")
	if err := os.WriteFile(plugin, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, plugin, binDir, conflist, api, want string
	}{
		{"no plugin", filepath.Join(dir, "missing"), dir, defaultConflist, "/s", "no CNI plugin"},
		{"no bin dir", plugin, filepath.Join(dir, "nope"), defaultConflist, "/s", "is not a directory"},
		{"conflist with a path", plugin, dir, "../x.conflist", "/s", "--conflist"},
		{"conflist without extension", plugin, dir, "x.conf", "/s", "--conflist"},
		{"relative socket", plugin, dir, defaultConflist, "s.sock", "--api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := installCNI(tt.plugin, tt.binDir, dir, tt.conflist, "n", tt.api)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
