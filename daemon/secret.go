package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/weave-switch/weave-switch/internal/meshsecret"
)

// Where the mesh's secret came from (api.Status.Secret).
const (
	SecretPassword = "password"        // --password-file or WEAVE_SWITCH_PASSWORD
	SecretJoin     = "join-token"      // --join
	SecretCreated  = "data-dir (new)"  // made in --data-dir on this start
	SecretStored   = "data-dir"        // kept in --data-dir
	SecretNone     = "none (insecure)" // --insecure
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

// resolveSecret returns the mesh's secret and where it came from: the
// password, else the join token's (kept in the data dir for later
// starts), else the one kept in the data dir (made if there is none),
// unless the mesh is insecure.
func resolveSecret(c Config) ([]byte, string, error) {
	switch {
	case c.Insecure:
		return nil, SecretNone, nil
	case len(c.Password) > 0:
		return c.Password, SecretPassword, nil
	case c.Join != "":
		t, err := meshsecret.ParseToken(c.Join)
		if err != nil {
			return nil, "", fmt.Errorf("--join: %w", err)
		}
		replaced, err := meshsecret.Store(c.DataDir, t.Secret)
		if err != nil {
			return nil, "", err
		}
		if replaced {
			c.Logger.Warn("the join token's secret replaces the one kept in the data dir", "file", meshsecret.Path(c.DataDir))
		}
		return t.Secret, SecretJoin, nil
	}
	s, created, err := meshsecret.LoadOrCreate(c.DataDir)
	if err != nil {
		return nil, "", err
	}
	if created {
		return s, SecretCreated, nil
	}
	return s, SecretStored, nil
}

// JoinToken returns the token another host joins this mesh with: the
// secret and the addresses this router is reached at. It fails for a
// mesh without a secret.
func (d *Daemon) JoinToken() (string, error) {
	if len(d.cfg.Password) == 0 {
		return "", errors.New("this mesh runs without a secret (--insecure): nothing to join with; peers use --insecure and --peer")
	}
	t := meshsecret.Token{Secret: d.cfg.Password, Addrs: joinAddrs(d.listen, d.cfg.Bridge, d.tapName)}
	if err := t.Validate(); err != nil {
		return "", err
	}
	return t.String(), nil
}

// maxJoinAddrs is how many of the host's addresses a token carries.
const maxJoinAddrs = 4

// joinAddrs returns where peers can dial this router: the listen
// address if it names one, else the global unicast addresses of the
// host's interfaces (IPv4 first) other than the overlay's own, with the
// listen port.
func joinAddrs(listen netip.AddrPort, bridge, tap string) []string {
	if a := listen.Addr(); a.IsValid() && !a.IsUnspecified() {
		return []string{listen.String()}
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Name == bridge || ifc.Name == tap ||
			strings.HasPrefix(ifc.Name, "vxlan") || strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "br-") {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil || !pfx.Addr().IsGlobalUnicast() {
				continue
			}
			ap := netip.AddrPortFrom(pfx.Addr().Unmap(), listen.Port()).String()
			if pfx.Addr().Is4() {
				v4 = append(v4, ap)
			} else {
				v6 = append(v6, ap)
			}
		}
	}
	out := append(v4, v6...)
	return out[:min(len(out), maxJoinAddrs)]
}
