package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/api"
)

// report is what `weave-switch report` prints: everything a bug report
// needs, as one JSON object.
type report struct {
	Schema    int       `json:"schema"`
	Generated time.Time `json:"generated"`
	// CLI is this program's version and build; Router the running one's
	// (in Status).
	CLI    versionInfo     `json:"cli"`
	System systemInfo      `json:"system"`
	Health *api.Health     `json:"health,omitempty"`
	Status *api.Status     `json:"status,omitempty"`
	Host   *api.HostStatus `json:"isolation,omitempty"`
	// Errors are what could not be collected, by part.
	Errors map[string]string `json:"errors,omitempty"`
	// Logs says where the router's log is: it writes to stderr, which
	// systemd keeps in the journal.
	Logs logInfo `json:"logs"`
}

type versionInfo struct {
	Version string `json:"version"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

type systemInfo struct {
	Kernel    string `json:"kernel"`
	OSRelease string `json:"os_release,omitempty"`
	NFT       string `json:"nft,omitempty"`
	// NFTTables are the nftables tables present (family and name).
	NFTTables []string `json:"nft_tables,omitempty"`
}

type logInfo struct {
	Journal  string `json:"journal"`
	Socket   string `json:"api_socket"`
	DataDir  string `json:"data_dir"`
	Unit     string `json:"unit,omitempty"`
	EnvFile  string `json:"env_file,omitempty"`
	Config   string `json:"config_file,omitempty"`
	Metrics  string `json:"metrics"`
	Profiles string `json:"profiles"`
}

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "print everything a bug report needs as JSON: status, IPAM, isolation, fast path, health, versions, where the logs are",
		Flags: []cli.Flag{
			apiFlag,
			&cli.StringFlag{Name: "data-dir", Value: "/var/lib/weave-switch", Usage: "the router's data directory (as given to up)", EnvVars: []string{"WEAVE_SWITCH_DATA_DIR"}},
		},
		Action: func(c *cli.Context) error {
			r := report{Schema: api.SchemaVersion, Generated: time.Now().UTC(), Errors: map[string]string{},
				CLI:    versionInfo{Version: version(), Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH},
				System: systemInfo{Kernel: firstLine(run("uname", "-srvm")), NFT: firstLine(run("nft", "--version"))},
				Logs: logInfo{Journal: "journalctl -u weave-switch (under systemd); else the stderr of 'weave-switch up'",
					Socket: c.String("api"), DataDir: c.String("data-dir"),
					Metrics: "curl --unix-socket " + c.String("api") + " http://x/metrics", Profiles: "curl --unix-socket " + c.String("api") + " http://x/debug/pprof/"},
			}
			for _, f := range []struct {
				path string
				into *string
			}{
				{"/lib/systemd/system/weave-switch.service", &r.Logs.Unit},
				{"/etc/default/weave-switch", &r.Logs.EnvFile},
				{"/etc/weave-switch/config.yaml", &r.Logs.Config},
			} {
				if _, err := os.Stat(f.path); err == nil {
					*f.into = f.path
				}
			}
			if b, err := os.ReadFile("/etc/os-release"); err == nil {
				for _, l := range strings.Split(string(b), "\n") {
					if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
						r.System.OSRelease = strings.Trim(v, `"`)
					}
				}
			}
			if out, err := run("nft", "list", "tables"); err == nil {
				for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
					if t, ok := strings.CutPrefix(l, "table "); ok && strings.Contains(t, "weave-switch") {
						r.System.NFTTables = append(r.System.NFTTables, t)
					}
				}
			}
			cl := api.NewClient(c.String("api"))
			if s, err := cl.Status(c.Context); err != nil {
				r.Errors["status"] = err.Error()
			} else {
				h := api.CheckHealth(s)
				r.Status, r.Health = &s, &h
			}
			if h, err := cl.HostStatus(c.Context); err != nil {
				r.Errors["isolation"] = err.Error()
			} else {
				r.Host = &h
			}
			if len(r.Errors) == 0 {
				r.Errors = nil
			}
			enc := json.NewEncoder(c.App.Writer)
			enc.SetIndent("", "  ")
			return enc.Encode(r)
		},
	}
}

// run runs a program and returns its output (stdout and stderr).
func run(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func firstLine(s string, _ error) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
