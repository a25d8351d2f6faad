package archtest

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/weave-switch/weave-switch"

type pkg struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Skip("go list unavailable:", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(out)
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// rule forbids packages matching from (a prefix, relative to the module)
// to import anything matching one of the forbidden prefixes.
type rule struct {
	from      string
	forbidden []string
	why       string
}

var rules = []rule{
	{"frame", []string{module + "/", "github.com/", "golang.org/"}, "frame/ is the leaf: standard library only"},
	{"switch", []string{module + "/transport", module + "/gossip", module + "/host", module + "/router", "golang.org/x/sys", "github.com/vishvananda"}, "the switch core is pure logic over frame/"},
	{"transport", []string{module + "/switch", module + "/router", module + "/gossip", module + "/host", module + "/daemon", "github.com/vishvananda"}, "transports know frames, not switching or the control plane"},
	{"gossip/topology", []string{module + "/router", module + "/host", module + "/transport", module + "/switch"}, "the topology is pure logic"},
	{"gossip/handshake", []string{module + "/router", module + "/host", module + "/transport", module + "/switch"}, "the handshake knows only connections"},
	{"router", []string{module + "/gossip", module + "/host", module + "/daemon", "github.com/vishvananda", "golang.org/x/sys"}, "the router gets peers and routes through interfaces"},
	{"api", []string{module + "/daemon", module + "/router", module + "/host", module + "/gossip"}, "the API types are a leaf the CLI and plugins share"},
}

// Only these may talk netlink.
var netlinkAllowed = []string{"host", "kernel", "internal/netns"}

func TestImportGraph(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, imp := range p.Imports {
			for _, r := range rules {
				if rel != r.from && !strings.HasPrefix(rel, r.from+"/") {
					continue
				}
				for _, f := range r.forbidden {
					if strings.HasPrefix(imp, f) && !(r.from == "transport" && strings.HasPrefix(imp, module+"/transport")) {
						if r.from == "frame" && strings.HasPrefix(imp, module+"/frame") {
							continue
						}
						t.Errorf("%s imports %s: %s", rel, imp, r.why)
					}
				}
			}
			if strings.HasPrefix(imp, "github.com/vishvananda/netlink") {
				ok := false
				for _, a := range netlinkAllowed {
					if rel == a || strings.HasPrefix(rel, a+"/") {
						ok = true
					}
				}
				if !ok {
					t.Errorf("%s imports %s: only %v may use netlink", rel, imp, netlinkAllowed)
				}
			}
		}
	}
}
