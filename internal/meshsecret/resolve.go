package meshsecret

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
)

// Where a router's secret came from, as status shows it.
const (
	FromPassword = "password"        // --password-file or WEAVE_SWITCH_PASSWORD
	FromJoin     = "join-token"      // --join
	FromCreated  = "data-dir (new)"  // made in --data-dir on this start
	FromStored   = "data-dir"        // kept in --data-dir
	None         = "none (insecure)" // --insecure
)

// Options are the ways a router is given its secret.
type Options struct {
	Insecure bool   // --insecure: no secret
	Password []byte // --password-file or WEAVE_SWITCH_PASSWORD
	Join     string // --join TOKEN
	DataDir  string // where the secret is kept
	Logger   *slog.Logger
}

// Validate checks that the ways of giving a secret do not clash.
func (o Options) Validate() []error {
	var errs []error
	if o.Join != "" {
		if _, err := ParseToken(o.Join); err != nil {
			errs = append(errs, fmt.Errorf("--join: %w", err))
		}
		if len(o.Password) > 0 {
			errs = append(errs, errors.New("--join carries the mesh's secret: give no --password-file or WEAVE_SWITCH_PASSWORD with it"))
		}
	}
	if o.Insecure && (len(o.Password) > 0 || o.Join != "") {
		errs = append(errs, errors.New("--insecure runs without a secret: give no --join, --password-file or WEAVE_SWITCH_PASSWORD with it"))
	}
	if len(o.Password) > MaxSecret {
		errs = append(errs, fmt.Errorf("password: %d bytes, at most %d", len(o.Password), MaxSecret))
	}
	return errs
}

// Resolve returns the mesh's secret and where it came from: the
// password, else the join token's (kept in the data dir for later
// starts), else the one kept in the data dir (made if there is none),
// unless the mesh is insecure.
func Resolve(o Options) ([]byte, string, error) {
	switch {
	case o.Insecure:
		return nil, None, nil
	case len(o.Password) > 0:
		return o.Password, FromPassword, nil
	case o.Join != "":
		t, err := ParseToken(o.Join)
		if err != nil {
			return nil, "", fmt.Errorf("--join: %w", err)
		}
		replaced, err := Store(o.DataDir, t.Secret)
		if err != nil {
			return nil, "", err
		}
		if replaced && o.Logger != nil {
			o.Logger.Warn("the join token's secret replaces the one kept in the data dir", "file", Path(o.DataDir))
		}
		return t.Secret, FromJoin, nil
	}
	s, created, err := LoadOrCreate(o.DataDir)
	if err != nil {
		return nil, "", err
	}
	if created {
		return s, FromCreated, nil
	}
	return s, FromStored, nil
}

// maxHostAddrs is how many of the host's addresses a token carries.
const maxHostAddrs = 4

// HostAddrs returns where peers can dial a router listening on listen: the listen
// address if it names one, else the global unicast addresses of the
// host's interfaces (IPv4 first) other than the overlay's own, with the
// listen port.
func HostAddrs(listen netip.AddrPort, bridge, tap string) []string {
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
	return out[:min(len(out), maxHostAddrs)]
}
