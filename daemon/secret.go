package daemon

import (
	"errors"

	"github.com/weave-switch/weave-switch/config"
	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/host"
	"github.com/weave-switch/weave-switch/internal/meshsecret"
	"github.com/weave-switch/weave-switch/kube"
)

// resolveSecret is meshsecret.Resolve for c.
func resolveSecret(c config.Config) ([]byte, string, error) {
	return meshsecret.Resolve(c.SecretOptions())
}

// JoinToken returns the token another host joins this mesh with: the
// secret and the addresses this router is reached at. It fails for a
// mesh without a secret.
func (d *Daemon) JoinToken() (string, error) {
	if len(d.cfg.Password) == 0 {
		return "", errors.New("this mesh runs without a secret (--insecure): nothing to join with; peers use --insecure and --peer")
	}
	t := meshsecret.Token{Secret: d.cfg.Password, Addrs: meshsecret.HostAddrs(d.listen, d.cfg.Bridge, d.tapName)}
	if err := t.Validate(); err != nil {
		return "", err
	}
	return t.String(), nil
}

// peerName is --name; else, in Kubernetes mode, the name derived from
// the node's (kube.PeerNameOf), which every router of the cluster works
// out alike, written to the data directory over whatever it held
// (returned as replaced when it differed); else the name kept in the
// data directory (made on the first start).
func peerName(c config.Config) (self, replaced frame.PeerName, err error) {
	if c.Name != "" {
		self, err = frame.ParsePeerName(c.Name)
		return self, 0, err
	}
	if c.Kube && c.KubeNodeName != "" {
		self = kube.PeerNameOf(c.KubeNodeName)
		old, err := host.SavePeerName(c.DataDir, self)
		if old == self {
			old = 0
		}
		return self, old, err
	}
	self, err = host.LoadOrCreatePeerName(c.DataDir)
	return self, 0, err
}
