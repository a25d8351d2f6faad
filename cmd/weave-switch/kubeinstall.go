package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// Defaults of kube-install: the node's CNI directories as the DaemonSet
// mounts them into the pod.
const (
	defaultCNIBinDir  = "/host/opt/cni/bin"
	defaultCNIConfDir = "/host/etc/cni/net.d"
	defaultConflist   = "10-weave-switch.conflist"
	cniPluginName     = "weave-switch-cni"
)

func kubeInstallCommand() *cli.Command {
	return &cli.Command{
		Name:      "kube-install",
		Usage:     "install the CNI plugin and its conflist on this node, then run the command after -- (e.g. up)",
		ArgsUsage: "[-- up FLAGS...]",
		Description: "Copies the weave-switch-cni binary into --cni-bin-dir and writes a network configuration\n" +
			"list naming it into --cni-conf-dir, each atomically (a temporary file renamed over the old one),\n" +
			"the binary first, so a runtime never reads a conflist whose plugin is missing or half written.\n" +
			"With arguments after --, it then replaces itself with this binary run with them: the node\n" +
			"image's DaemonSet runs 'kube-install -- up --kube ...'.",
		Flags: []cli.Flag{
			apiFlag,
			&cli.StringFlag{Name: "cni-bin-dir", Value: defaultCNIBinDir, Usage: "directory the runtime finds CNI plugins in (the node's /opt/cni/bin)", EnvVars: []string{"WEAVE_SWITCH_CNI_BIN_DIR"}},
			&cli.StringFlag{Name: "cni-conf-dir", Value: defaultCNIConfDir, Usage: "directory the runtime reads network configurations from (the node's /etc/cni/net.d)", EnvVars: []string{"WEAVE_SWITCH_CNI_CONF_DIR"}},
			&cli.StringFlag{Name: "cni-plugin", Usage: "the plugin binary to install", DefaultText: cniPluginName + " beside this executable", EnvVars: []string{"WEAVE_SWITCH_CNI_PLUGIN"}},
			&cli.StringFlag{Name: "conflist", Value: defaultConflist, Usage: "file name of the network configuration list", EnvVars: []string{"WEAVE_SWITCH_CNI_CONFLIST"}},
			&cli.StringFlag{Name: "network", Value: "weave-switch", Usage: "network name in the configuration list", EnvVars: []string{"WEAVE_SWITCH_CNI_NETWORK"}},
		},
		Action: func(c *cli.Context) error {
			self, err := os.Executable()
			if err != nil {
				return cli.Exit("kube-install: "+err.Error(), 1)
			}
			plugin := c.String("cni-plugin")
			if plugin == "" {
				plugin = filepath.Join(filepath.Dir(self), cniPluginName)
			}
			if err := installCNI(plugin, c.String("cni-bin-dir"), c.String("cni-conf-dir"), c.String("conflist"), c.String("network"), c.String("api")); err != nil {
				return cli.Exit("kube-install: "+err.Error(), 1)
			}
			fmt.Fprintf(c.App.ErrWriter, "weave-switch: installed %s in %s and %s in %s\n", cniPluginName, c.String("cni-bin-dir"), c.String("conflist"), c.String("cni-conf-dir"))
			if c.NArg() == 0 {
				return nil
			}
			argv := append([]string{os.Args[0]}, c.Args().Slice()...)
			if err := syscall.Exec(self, argv, os.Environ()); err != nil {
				return cli.Exit(fmt.Sprintf("kube-install: exec %s: %v", self, err), 1)
			}
			return nil
		},
	}
}

// conflist is the network configuration list kube-install writes: one
// network whose only plugin is ours, talking to the router at socket.
func conflist(network, socket string) ([]byte, error) {
	b, err := json.MarshalIndent(map[string]any{
		"cniVersion": "1.1.0",
		"name":       network,
		"plugins":    []any{map[string]any{"type": cniPluginName, "api": socket}},
	}, "", "  ")
	return append(b, '\n'), err
}

// installCNI copies the plugin binary into binDir, then writes the
// conflist into confDir, each atomically; the directories must exist
// (they are the node's, mounted).
func installCNI(plugin, binDir, confDir, name, network, socket string) error {
	if filepath.Base(name) != name || filepath.Ext(name) != ".conflist" {
		return fmt.Errorf("--conflist %q: want a file name ending in .conflist", name)
	}
	if !filepath.IsAbs(socket) {
		return fmt.Errorf("--api %q: want an absolute path", socket)
	}
	bin, err := os.ReadFile(plugin)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no CNI plugin at %s (set --cni-plugin)", plugin)
	} else if err != nil {
		return err
	}
	for _, d := range []string{binDir, confDir} {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return fmt.Errorf("%s is not a directory: mount the node's CNI directories there", d)
		}
	}
	if err := atomicfile.Write(filepath.Join(binDir, cniPluginName), bin, 0o755); err != nil {
		return err
	}
	conf, err := conflist(network, socket)
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(confDir, name), conf, 0o644)
}
