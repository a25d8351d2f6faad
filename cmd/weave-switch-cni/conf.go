package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/host"
)

// DefaultStateDir is where DEL records the releases it could not ask
// the router for; the router's --cni-state-dir has the same default.
const DefaultStateDir = "/var/lib/cni/weave-switch"

// EnvAPI names the router's API socket when the configuration does not.
const EnvAPI = "WEAVE_SWITCH_API"

// netConf is the plugin's entry in a network configuration list.
type netConf struct {
	types.PluginConf
	// API is the router's API socket; else $WEAVE_SWITCH_API, else the
	// router's default.
	API string `json:"api,omitempty"`
	// Subnet is the network's subnet, as attach takes it: "app:NAME",
	// "net:CIDR" or "net:default" (the default, also when empty).
	Subnet string `json:"subnet,omitempty"`
	// StateDir is where DEL records releases while the router is down
	// (DefaultStateDir when empty).
	StateDir string `json:"stateDir,omitempty"`
	// LogFile, if set, gets a line per call; else the lines go to
	// stderr.
	LogFile string `json:"logFile,omitempty"`
}

// parseConf decodes a network configuration from stdin and checks the
// plugin's own keys.
func parseConf(b []byte) (*netConf, error) {
	c := &netConf{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("decode network configuration: %w", err)
	}
	if c.Name == "" {
		return nil, errors.New("network configuration has no name")
	}
	if strings.Trim(c.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		// The name begins every key of the network's attachments: a
		// colon would let one network's GC reach another's.
		return nil, fmt.Errorf("network name %q: want letters, digits, '_', '.' and '-'", c.Name)
	}
	if c.Subnet != "" && !strings.HasPrefix(c.Subnet, "app:") && !strings.HasPrefix(c.Subnet, "net:") {
		return nil, fmt.Errorf("subnet %q: want app:NAME, net:CIDR or net:default", c.Subnet)
	}
	for _, p := range []struct{ key, v string }{{"api", c.API}, {"stateDir", c.StateDir}, {"logFile", c.LogFile}} {
		if p.v != "" && !filepath.IsAbs(p.v) {
			return nil, fmt.Errorf("%s %q: want an absolute path", p.key, p.v)
		}
	}
	return c, nil
}

// socket is the router's API socket for c.
func (c *netConf) socket() string {
	switch {
	case c.API != "":
		return c.API
	case os.Getenv(EnvAPI) != "":
		return os.Getenv(EnvAPI)
	}
	return api.DefaultSocket
}

// stateDir is where c's pending releases go.
func (c *netConf) stateDir() string {
	if c.StateDir != "" {
		return c.StateDir
	}
	return DefaultStateDir
}

// keyPrefix starts the keys of every attachment of c's network.
func (c *netConf) keyPrefix() string { return api.KeyPrefixCNI + c.Name + ":" }

// key is the router's key of the attachment of container id's interface
// ifname on c's network.
func (c *netConf) key(id, ifname string) (string, error) {
	if id == "" {
		return "", errors.New("no container ID (CNI_CONTAINERID)")
	}
	if err := host.CheckIfName(ifname); err != nil {
		return "", err
	}
	k := c.keyPrefix() + id + ":" + ifname
	if err := api.CheckKey(k); err != nil {
		return "", err
	}
	return k, nil
}
