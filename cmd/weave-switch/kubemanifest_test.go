package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/urfave/cli/v2"
)

const manifestPath = "../../deploy/kubernetes/weave-switch.yaml"

// manifest is deploy/kubernetes/weave-switch.yaml decoded strictly (an
// unknown field fails) with client-go's scheme.
type manifest struct {
	ds      *appsv1.DaemonSet
	cm      *corev1.ConfigMap
	sa      *corev1.ServiceAccount
	role    *rbacv1.ClusterRole
	binding *rbacv1.ClusterRoleBinding
}

func loadManifest(t *testing.T) manifest {
	t.Helper()
	b, err := os.ReadFile(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	dec := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	var m manifest
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		obj, gvk, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		switch o := obj.(type) {
		case *appsv1.DaemonSet:
			m.ds = o
		case *corev1.ConfigMap:
			m.cm = o
		case *corev1.ServiceAccount:
			m.sa = o
		case *rbacv1.ClusterRole:
			m.role = o
		case *rbacv1.ClusterRoleBinding:
			m.binding = o
		default:
			t.Fatalf("document %d: unexpected %v", i, gvk)
		}
	}
	if m.ds == nil || m.cm == nil || m.sa == nil || m.role == nil || m.binding == nil {
		t.Fatalf("manifest lacks a DaemonSet, ConfigMap, ServiceAccount, ClusterRole or ClusterRoleBinding: %+v", m)
	}
	return m
}

func TestManifestRBACAndScheduling(t *testing.T) {
	m := loadManifest(t)
	ds := m.ds
	spec := ds.Spec.Template.Spec
	if spec.ServiceAccountName != m.sa.Name || m.sa.Namespace != ds.Namespace {
		t.Errorf("DaemonSet runs as %q, the ServiceAccount is %s/%s", spec.ServiceAccountName, m.sa.Namespace, m.sa.Name)
	}
	if m.binding.RoleRef.Name != m.role.Name || len(m.binding.Subjects) != 1 ||
		m.binding.Subjects[0].Name != m.sa.Name || m.binding.Subjects[0].Namespace != m.sa.Namespace {
		t.Errorf("ClusterRoleBinding does not bind %s to the ServiceAccount: %+v", m.role.Name, m.binding)
	}
	nodes := false
	for _, r := range m.role.Rules {
		if slices.Contains(r.Resources, "nodes") && slices.Contains(r.APIGroups, "") {
			nodes = slices.Contains(r.Verbs, "get") && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch")
		}
	}
	if !nodes {
		t.Errorf("ClusterRole cannot get, list and watch nodes: %+v", m.role.Rules)
	}
	if !spec.HostNetwork || !spec.HostPID {
		t.Error("the router needs the host's network and PID namespaces")
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", spec.PriorityClassName)
	}
	if len(spec.Tolerations) != 1 || spec.Tolerations[0].Operator != corev1.TolerationOpExists || spec.Tolerations[0].Key != "" {
		t.Errorf("tolerations %+v: want one that tolerates every taint", spec.Tolerations)
	}
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType {
		t.Errorf("updateStrategy %q", ds.Spec.UpdateStrategy.Type)
	}
	if sel := ds.Spec.Selector.MatchLabels; len(sel) == 0 || !mapContains(ds.Spec.Template.Labels, sel) {
		t.Errorf("selector %v does not match the pod labels %v", sel, ds.Spec.Template.Labels)
	}
}

func mapContains(m, sub map[string]string) bool {
	for k, v := range sub {
		if m[k] != v {
			return false
		}
	}
	return true
}

// imageEntrypoint is the ENTRYPOINT of deploy/image/Dockerfile.
func imageEntrypoint(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../deploy/image/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			var ep []string
			if err := json.Unmarshal([]byte(rest), &ep); err != nil {
				t.Fatalf("ENTRYPOINT %s: %v", rest, err)
			}
			return ep
		}
	}
	t.Fatal("Dockerfile has no ENTRYPOINT")
	return nil
}

// flagNames are every name of flags.
func flagNames(flags []cli.Flag) map[string]cli.Flag {
	out := map[string]cli.Flag{}
	for _, f := range flags {
		for _, n := range f.Names() {
			out[n] = f
		}
	}
	return out
}

// splitFlags reads "--name=value" and "--name" (a bool) arguments.
func splitFlags(t *testing.T, args []string, known map[string]cli.Flag) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") {
			t.Errorf("argument %q: write flags as --name=value", a)
			continue
		}
		f, ok := known[name]
		if !ok {
			t.Errorf("argument %q: no such flag", a)
			continue
		}
		if tv, ok := f.(interface{ TakesValue() bool }); ok && tv.TakesValue() != hasVal {
			t.Errorf("argument %q: flag %s takes a value: %v", a, name, tv.TakesValue())
		}
		out[name] = val
	}
	return out
}

func TestManifestMatchesImageAndCLI(t *testing.T) {
	m := loadManifest(t)
	spec := m.ds.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !strings.HasPrefix(c.Image, "weave-switch/node:") {
		t.Errorf("image %q is not the one make image tags (weave-switch/node)", c.Image)
	}
	if b, _ := os.ReadFile("../../scripts/image.sh"); !bytes.Contains(b, []byte("repo=${IMAGE_REPO:-weave-switch/node}")) {
		t.Error("scripts/image.sh does not tag weave-switch/node")
	}
	if c.ImagePullPolicy == corev1.PullAlways {
		t.Error("imagePullPolicy Always: the image is loaded on the nodes, not pulled")
	}
	ep := imageEntrypoint(t)
	if len(c.Command) != 0 || !slices.Equal(ep, []string{"/usr/bin/weave-switch"}) {
		t.Fatalf("container command %q over the image's entrypoint %q: want the entrypoint /usr/bin/weave-switch", c.Command, ep)
	}

	// kube-install [FLAGS] -- up FLAGS: flags of the real commands.
	app := newApp()
	install, up := app.Command("kube-install"), app.Command("up")
	if install == nil || up == nil {
		t.Fatal("no kube-install or up command")
	}
	if len(c.Args) < 3 || c.Args[0] != "kube-install" {
		t.Fatalf("args %q: want kube-install [FLAGS] -- up FLAGS", c.Args)
	}
	dash := slices.Index(c.Args, "--")
	if dash < 0 || dash+1 >= len(c.Args) || c.Args[dash+1] != "up" {
		t.Fatalf("args %q: want kube-install [FLAGS] -- up FLAGS", c.Args)
	}
	installFlags := splitFlags(t, c.Args[1:dash], flagNames(install.Flags))
	upFlagsSet := splitFlags(t, c.Args[dash+2:], flagNames(up.Flags))
	if _, ok := upFlagsSet["kube"]; !ok {
		t.Error("up runs without --kube")
	}
	if upFlagsSet["nickname"] != "$(NODE_NAME)" {
		t.Errorf("--nickname=%q: want $(NODE_NAME), the node's name, as kube finds deleted nodes' routers by it", upFlagsSet["nickname"])
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if e := env["NODE_NAME"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("NODE_NAME is not the downward API's spec.nodeName: %+v", e)
	}
	if e := env["WEAVE_SWITCH_PASSWORD"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Errorf("WEAVE_SWITCH_PASSWORD is not from a Secret: %+v", e)
	} else if f := flagNames(up.Flags)["password-file"]; f == nil || !strings.Contains(f.String(), "WEAVE_SWITCH_PASSWORD") {
		t.Error("up's --password-file no longer names WEAVE_SWITCH_PASSWORD")
	}
	if f := flagNames(up.Flags)["kube-node-name"]; f == nil || !strings.Contains(f.String(), "$NODE_NAME") {
		t.Error("--kube-node-name does not read NODE_NAME")
	}

	// The ConfigMap is the --config file: every key a flag of up, and the
	// file parses as up parses it.
	cfgPath := upFlagsSet["config"]
	var cfgFile map[string]any
	if err := yaml.Unmarshal([]byte(m.cm.Data[filepath.Base(cfgPath)]), &cfgFile); err != nil || len(cfgFile) == 0 {
		t.Fatalf("ConfigMap key %s: %v", filepath.Base(cfgPath), err)
	}
	known := flagNames(upFlags)
	for k := range cfgFile {
		if known[k] == nil {
			t.Errorf("config key %q is not a flag of up", k)
		}
	}
	got := parseUp(t, m.cm.Data[filepath.Base(cfgPath)], c.Args[dash+2:])
	if !got.kube || got.nickname != "node-1" || !got.noDocker {
		t.Errorf("up parsed the manifest's flags and config as %+v", got)
	}

	// Volumes: mounted where the commands read and write.
	mounts := map[string]corev1.VolumeMount{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm
	}
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	hostPathAt := func(mountPath string) string {
		vm, ok := mounts[mountPath]
		if !ok {
			return ""
		}
		if v := vols[vm.Name]; v.HostPath != nil {
			return v.HostPath.Path
		}
		return "(not a hostPath)"
	}
	or := func(v, def string) string {
		if v != "" {
			return v
		}
		return def
	}
	for _, want := range []struct{ what, inPod, onHost string }{
		{"--cni-bin-dir", or(installFlags["cni-bin-dir"], defaultCNIBinDir), "/opt/cni/bin"},
		{"--cni-conf-dir", or(installFlags["cni-conf-dir"], defaultCNIConfDir), "/etc/cni/net.d"},
		{"the API socket's directory", path.Dir(or(upFlagsSet["api"], apiFlag.Value)), "/run/weave-switch"},
		{"--data-dir", or(upFlagsSet["data-dir"], "/var/lib/weave-switch"), "/var/lib/weave-switch"},
		{"/lib/modules", "/lib/modules", "/lib/modules"},
		{"the xtables lock", "/run/xtables.lock", "/run/xtables.lock"},
	} {
		if got := hostPathAt(want.inPod); got != want.onHost {
			t.Errorf("%s: %s in the pod is host path %q, want %s", want.what, want.inPod, got, want.onHost)
		}
	}
	if vm := mounts["/lib/modules"]; !vm.ReadOnly {
		t.Error("/lib/modules is not read-only")
	}
	if vm, ok := mounts[path.Dir(cfgPath)]; !ok || vols[vm.Name].ConfigMap == nil || vols[vm.Name].ConfigMap.Name != m.cm.Name {
		t.Errorf("--config %s is not on the ConfigMap %s", cfgPath, m.cm.Name)
	}
	// The conflist kube-install writes names the socket the router serves.
	if api := or(installFlags["api"], apiFlag.Value); api != or(upFlagsSet["api"], apiFlag.Value) {
		t.Errorf("the conflist names socket %s, the router serves %s", api, or(upFlagsSet["api"], apiFlag.Value))
	}

	// Probes: weave-switch commands that exist, with their flags.
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.Exec == nil || len(p.Exec.Command) < 2 {
			t.Errorf("%s probe: want an exec of weave-switch status", name)
			continue
		}
		cmd := p.Exec.Command
		if cmd[0] != "weave-switch" && cmd[0] != ep[0] {
			t.Errorf("%s probe runs %q, not the image's binary", name, cmd[0])
		}
		sub := app.Command(cmd[1])
		if sub == nil || sub.Name != "status" {
			t.Errorf("%s probe: %q is not weave-switch status", name, cmd[1])
			continue
		}
		for _, a := range cmd[2:] {
			if strings.HasPrefix(a, "--") && flagNames(sub.Flags)[strings.TrimPrefix(a, "--")] == nil {
				t.Errorf("%s probe: status has no flag %s", name, a)
			}
		}
	}
}

// upParsed is what up made of its flags and config file.
type upParsed struct {
	kube, noDocker bool
	nickname       string
}

// parseUp runs up's flag and --config parsing (not its action) on args,
// with the config file holding cfg and $(NODE_NAME) as node-1.
func parseUp(t *testing.T, cfg string, args []string) upParsed {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	argv := []string{"weave-switch", "up"}
	for _, a := range args {
		if strings.HasPrefix(a, "--config=") {
			a = "--config=" + file
		}
		argv = append(argv, strings.ReplaceAll(a, "$(NODE_NAME)", "node-1"))
	}
	t.Setenv("NODE_NAME", "node-1")
	app := newApp()
	var got upParsed
	app.Command("up").Action = func(c *cli.Context) error {
		got = upParsed{kube: c.Bool("kube"), noDocker: c.Bool("no-docker"), nickname: c.String("nickname")}
		return nil
	}
	if err := app.Run(argv); err != nil {
		t.Fatalf("up %q: %v", argv[2:], err)
	}
	return got
}
