package daemon

import (
	"errors"

	"github.com/weave-switch/weave-switch/internal/meshsecret"
)

// secretOptions are c's ways of giving the mesh's secret.
func (c Config) secretOptions() meshsecret.Options {
	return meshsecret.Options{Insecure: c.Insecure, Password: c.Password, Join: c.Join, DataDir: c.DataDir, Logger: c.Logger}
}

// resolveSecret is meshsecret.Resolve for c.
func resolveSecret(c Config) ([]byte, string, error) {
	return meshsecret.Resolve(c.secretOptions())
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
