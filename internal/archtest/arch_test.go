package archtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/weave-switch/weave-switch"

// Patterns name packages the way the go command does: "x" is the one
// package x, "x/..." is x and every package below it, and "..." is every
// package of the module. A pattern whose first element has no dot is
// relative to the module; one with a dot ("golang.org/x/sys/unix") is a
// full import path.

// A seam forbids the packages matching from to import any package
// matching never.
type seam struct {
	from  string
	never []string
	why   string
}

var seams = []seam{
	{"switch/...", []string{"transport/...", "router/...", "gossip/...", "host/...", "kernel/...", "alloc/...", "isolation/...", "api/..."},
		"the switch core is pure logic over frame/: switch/ and transport/ never import each other"},
	{"transport/...", []string{"switch/...", "router/...", "gossip/...", "host/...", "kernel/...", "alloc/...", "isolation/..."},
		"transports carry frames between peers and know nothing of switching, the control plane or the host"},
	{"kernel/...", []string{"switch/...", "router/...", "transport/...", "gossip/...", "host/...", "alloc/...", "isolation/..."},
		"the fast path is fed through interfaces it defines, never by reaching into another service"},
	{"alloc/...", []string{"switch/...", "router/...", "transport/...", "host/...", "kernel/...", "isolation/..."},
		"IPAM is a CRDT over addresses and knows nothing of the data plane or the host"},
	{"gossip/...", []string{"router/...", "switch/...", "host/...", "kernel/...", "isolation/..."},
		"the control plane meets the data plane in the shared link types, not in its packages"},
	{"router/...", []string{"gossip/...", "host/...", "alloc/...", "isolation/..."},
		"the router gets peers and routes through interfaces"},
	{"isolation/...", []string{"switch/...", "router/...", "transport/...", "gossip/..."},
		"isolation works on the host's bridge and frames, not on the router's internals"},
	{"host/...", []string{"switch/...", "router/...", "transport/...", "gossip/...", "kernel/...", "alloc/...", "isolation/..."},
		"host/ manages the host's links, namespaces and TAP and knows no service"},
	{"api/...", []string{"router/...", "host/...", "gossip/...", "transport/...", "kernel/...", "alloc/...", "switch/...", "isolation/..."},
		"the API types are a leaf the CLI and plugins share"},
	{"dns/...", []string{"switch/...", "router/...", "transport/...", "gossip/...", "host/...", "kernel/...", "alloc/...", "isolation/..."},
		"DNS learns about peers through the interfaces it defines and knows nothing of the data plane"},
	{"kube/...", []string{"switch/...", "router/...", "transport/...", "gossip/...", "host/...", "kernel/...", "alloc/...", "isolation/..."},
		"the Kubernetes mode acts on the mesh and IPAM through the interfaces it defines"},
	{"internal/...", []string{"switch/...", "router/...", "transport/...", "gossip/...", "host/...", "kernel/...", "alloc/...", "isolation/...", "api/..."},
		"internal/ holds helpers below every service"},
}

// A leaf imports the standard library and, beyond it, only packages
// matching may.
type leaf struct {
	from string
	may  []string
	why  string
}

var leaves = []leaf{
	{"frame/...", nil,
		"frame/ is the leaf that switch/ and transport/ share: standard library only"},
	{"link/...", []string{"frame", "transport"},
		"link/ holds the types where control and data plane meet; of the module it imports only frame and transport"},
	{"gossip/topology", []string{"frame"},
		"the topology is pure logic over peers and links"},
	{"gossip/handshake", []string{"frame", "github.com/flynn/noise", "golang.org/x/crypto/..."},
		"the handshake is pure logic over a connection it is given"},
}

// A restricted import may be made only by packages matching by.
type restricted struct {
	imp string
	by  []string
	why string
}

var restrictions = []restricted{
	{"github.com/vishvananda/netlink/...", []string{"host/...", "kernel/..."},
		"only host/ and kernel/ talk netlink"},
	{"golang.org/x/sys/unix", []string{"host/...", "kernel/...", "internal/udpbatch", "internal/iomem", "transport/sleeve", "transport/quic", "transport/wireguard"},
		"raw system calls stay in the host, fast-path and socket code (and the mappings its buffers live in)"},
	{"daemon/...", []string{"cmd/..."},
		"daemon/ is the composition root: only the commands build it"},
}

// An exemption lets from import imp whatever the rules say; with
// testOnly, only from the package's tests. Every exemption must be used.
type exemption struct {
	from, imp string
	testOnly  bool
	why       string
}

var exemptions = []exemption{
	{"...", "internal/leakcheck", true, "every test that starts goroutines checks for leaks"},
	{"...", "github.com/google/go-cmp/...", true, "tests compare values with go-cmp"},
	{"kernel/ovs", "host", true, "the datapath tests build a bridge and a TAP to run frames through"},
	{"isolation", "golang.org/x/sys/unix", true, "the tests send raw frames through an AF_PACKET socket"},
	{"gossip/mesh", "golang.org/x/sys/unix", false, "the control port is shared (SO_REUSEPORT) with the sockets that punch holes through NAT"},
}

// resolve turns a pattern into the import path (or prefix, for "/...") it
// names.
func resolve(pattern string) string {
	if pattern == "..." {
		return module + "/..."
	}
	first, _, _ := strings.Cut(pattern, "/")
	if strings.Contains(first, ".") {
		return pattern
	}
	return module + "/" + pattern
}

func match(pattern, path string) bool {
	p := resolve(pattern)
	if base, ok := strings.CutSuffix(p, "/..."); ok {
		return path == base || strings.HasPrefix(path, base+"/")
	}
	return path == p
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if match(p, path) {
			return true
		}
	}
	return false
}

func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// An edge is one import of one package, from its code or only from its
// tests.
type edge struct {
	from, imp string
	test      bool
}

func (e edge) String() string {
	s := rel(e.from) + " imports " + rel(e.imp)
	if e.test {
		s += " (in tests)"
	}
	return s
}

// violations returns what is wrong with e, one line per rule it breaks.
func violations(e edge) []string {
	var out []string
	for _, r := range seams {
		if !match(r.from, e.from) {
			continue
		}
		for _, n := range r.never {
			if match(n, e.imp) {
				out = append(out, fmt.Sprintf("%v: rule %q never imports %q: %s", e, r.from, n, r.why))
			}
		}
	}
	for _, r := range leaves {
		if match(r.from, e.from) && !isStd(e.imp) && !matchAny(r.may, e.imp) {
			out = append(out, fmt.Sprintf("%v: rule %q imports only the standard library and %q: %s", e, r.from, r.may, r.why))
		}
	}
	for _, r := range restrictions {
		if match(r.imp, e.imp) && !matchAny(r.by, e.from) {
			out = append(out, fmt.Sprintf("%v: rule only %q import %q: %s", e, r.by, r.imp, r.why))
		}
	}
	return out
}

// exempt returns the index of the exemption that covers e, or -1.
func exempt(e edge) int {
	for i, x := range exemptions {
		if match(x.from, e.from) && match(x.imp, e.imp) && (e.test || !x.testOnly) {
			return i
		}
	}
	return -1
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// edges returns every import of p: its code's, then those only its tests
// make. The external test package's import of p itself is no dependency.
func (p pkg) edges() []edge {
	var out []edge
	seen := map[string]bool{p.ImportPath: true}
	for _, imp := range p.Imports {
		seen[imp] = true
		out = append(out, edge{p.ImportPath, imp, false})
	}
	for _, imp := range append(p.TestImports, p.XTestImports...) {
		if !seen[imp] {
			seen[imp] = true
			out = append(out, edge{p.ImportPath, imp, true})
		}
	}
	return out
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

func TestImportGraph(t *testing.T) {
	used := make([]bool, len(exemptions))
	for _, p := range listPackages(t) {
		for _, e := range p.edges() {
			v := violations(e)
			if len(v) == 0 {
				continue
			}
			if i := exempt(e); i >= 0 {
				used[i] = true
				continue
			}
			for _, msg := range v {
				t.Error(msg)
			}
		}
	}
	for i, x := range exemptions {
		if !used[i] {
			t.Errorf("exemption %q may import %q is not needed by any import: remove it", x.from, x.imp)
		}
	}
}

// TestRules checks the matcher and one case of each kind of rule on
// made-up imports, so that a rule cannot pass by matching nothing.
func TestRules(t *testing.T) {
	m := func(s string) string { return module + "/" + s }
	for _, tc := range []struct {
		e     edge
		wrong bool
	}{
		{edge{m("frame"), "encoding/binary", false}, false},
		{edge{m("frame"), m("transport"), false}, true},
		{edge{m("switch"), m("transport/memory"), false}, true},
		{edge{m("switch"), m("frame"), false}, false},
		{edge{m("transport/sleeve"), m("transport"), false}, false},
		{edge{m("transport/sleeve"), m("router"), false}, true},
		{edge{m("transport/sleeve"), "golang.org/x/sys/unix", false}, false},
		{edge{m("transport/memory"), "golang.org/x/sys/unix", false}, true},
		{edge{m("router"), "github.com/vishvananda/netlink", false}, true},
		{edge{m("kernel/vxlan"), "github.com/vishvananda/netlink/nl", false}, false},
		{edge{m("gossip/mesh"), m("router"), false}, true},
		{edge{m("link"), m("transport"), false}, false},
		{edge{m("link"), m("transport/quic"), false}, true},
		{edge{m("link"), m("switch"), false}, true},
		{edge{m("alloc"), m("daemon"), false}, true},
		{edge{m("cmd/weave-switch"), m("daemon"), false}, false},
		{edge{m("gossip/handshake"), "golang.org/x/crypto/hkdf", false}, false},
		{edge{m("gossip/topology"), m("internal/ratelimit"), false}, true},
	} {
		if got := len(violations(tc.e)) > 0; got != tc.wrong {
			t.Errorf("%v: breaks a rule = %v, want %v (%q)", tc.e, got, tc.wrong, violations(tc.e))
		}
	}
}
