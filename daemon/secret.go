package daemon

import (
	"errors"
	"fmt"

	"github.com/weave-switch/weave-switch/internal/meshsecret"
)

// validateSecret checks that the ways of giving a secret do not clash.
func (c Config) validateSecret() []error {
	var errs []error
	if c.Join != "" {
		if _, err := meshsecret.ParseToken(c.Join); err != nil {
			errs = append(errs, fmt.Errorf("--join: %w", err))
		}
		if len(c.Password) > 0 {
			errs = append(errs, errors.New("--join carries the mesh's secret: give no --password-file or WEAVE_SWITCH_PASSWORD with it"))
		}
	}
	if c.Insecure && (len(c.Password) > 0 || c.Join != "") {
		errs = append(errs, errors.New("--insecure runs without a secret: give no --join, --password-file or WEAVE_SWITCH_PASSWORD with it"))
	}
	if len(c.Password) > meshsecret.MaxSecret {
		errs = append(errs, fmt.Errorf("password: %d bytes, at most %d", len(c.Password), meshsecret.MaxSecret))
	}
	return errs
}

// resolveSecret is meshsecret.Resolve for c.
func resolveSecret(c Config) ([]byte, string, error) {
	return meshsecret.Resolve(meshsecret.Options{Insecure: c.Insecure, Password: c.Password, Join: c.Join, DataDir: c.DataDir, Logger: c.Logger})
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
