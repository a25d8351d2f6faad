package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/docker"
)

// EnvVar is the container environment variable that says which
// addresses the container gets.
const EnvVar = "WEAVE_CIDR"

// want is what a create asks of the proxy: the addresses to reserve for
// the new container, as api.ParseAddrSpecs gives them. With neither, the
// container gets one address in the default subnet.
type want struct {
	cidrs []netip.Prefix
	specs []string
}

// createBody is the part of a container create's body the proxy reads.
type createBody struct {
	Env        []string
	HostConfig *struct {
		NetworkMode string
	}
}

// decodeCreate reads a create's body: the value of WEAVE_CIDR in its
// Env (the last one if several; set reports whether there is one) and
// HostConfig.NetworkMode. A body that is not a JSON object is an error.
func decodeCreate(body []byte) (cidr string, set bool, mode string, err error) {
	var b createBody
	if err := json.Unmarshal(body, &b); err != nil {
		return "", false, "", err
	}
	for _, e := range b.Env {
		if v, ok := strings.CutPrefix(e, EnvVar+"="); ok {
			cidr, set = v, true
		}
	}
	if b.HostConfig != nil {
		mode = b.HostConfig.NetworkMode
	}
	return cidr, set, mode, nil
}

// parseWeaveCIDR parses a WEAVE_CIDR value: empty (an automatic
// address), "none" (nil: leave the container alone), or a list of what
// api.ParseAddrSpecs takes, separated by spaces.
func parseWeaveCIDR(v string) (*want, error) {
	fields := strings.Fields(v)
	if len(fields) == 1 && fields[0] == "none" {
		return nil, nil
	}
	cidrs, specs, err := api.ParseAddrSpecs(fields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvVar, err)
	}
	for _, p := range cidrs {
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("%s: %s is not an IPv4 address", EnvVar, p)
		}
	}
	return &want{cidrs: cidrs, specs: specs}, nil
}

// modeOutside reports whether a container with NetworkMode mode is left
// off the weave network whatever its WEAVE_CIDR: host, none and
// container:X have no network of their own.
func modeOutside(mode string) bool {
	return mode == "host" || mode == "none" || strings.HasPrefix(mode, "container:")
}

// modeDefault reports whether mode is Docker's default network.
func modeDefault(mode string) bool {
	return mode == "" || mode == "default" || mode == "bridge"
}

// planCreate decides what to do with a create whose body is body: nil
// to forward it untouched, or the addresses to give the container. An
// error is the client's (a WEAVE_CIDR that does not parse).
func (s *Service) planCreate(ctx context.Context, body []byte) (*want, error) {
	cidr, _, mode, err := decodeCreate(body)
	if err != nil {
		// The daemon answers a body it cannot read better than we do.
		return nil, nil
	}
	w, err := parseWeaveCIDR(cidr)
	if err != nil || w == nil || modeOutside(mode) {
		return nil, err
	}
	if !modeDefault(mode) {
		if mode == s.cfg.Network {
			return nil, nil
		}
		drv, err := s.daemon.networkDriver(ctx, mode)
		if err != nil || drv == docker.DriverName {
			// A network that does not exist fails the create by itself;
			// one of our driver already puts the container on the bridge.
			return nil, nil
		}
	}
	return w, nil
}

// passDNS gives the body of a create the router's DNS: for a container
// the proxy puts on the weave network (wt), or one created on the
// default weave network itself, unless WEAVE_CIDR is none or the user
// chose a nameserver or search domain. ok says the body changed.
func (s *Service) passDNS(body []byte, wt *want) ([]byte, bool) {
	if s.cfg.DNS == nil {
		return nil, false
	}
	cidr, _, mode, err := decodeCreate(body)
	if err != nil {
		return nil, false
	}
	if wt == nil {
		if w, err := parseWeaveCIDR(cidr); err != nil || w == nil || mode != s.cfg.Network {
			return nil, false
		}
	}
	probe := s.dnsProbe(wt, true)
	ns, search, ok := s.cfg.DNS.Nameserver(probe)
	if !ok {
		s.log.Info("container gets no weave DNS: this host serves it on no address in the container's subnet (expose one)", "subnets", probe)
		return nil, false
	}
	nb, changed, err := withDNS(body, ns, search)
	if err != nil || !changed {
		return nil, false
	}
	return nb, true
}

// wantKey carries a create's want from the handler to modifyResponse.
type wantKey struct{}

// statusError is an error the client gets with HTTP status code.
type statusError struct {
	code int
	err  error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// serveCreate reads a create's body and forwards it; modifyResponse
// finishes the job once the daemon has answered.
func (s *Service) serveCreate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxBody+1))
	if err != nil {
		s.fail(w, r, "create", &statusError{http.StatusBadRequest, fmt.Errorf("reading the create request: %w", err)})
		return
	}
	if int64(len(body)) > s.cfg.MaxBody {
		s.fail(w, r, "create", &statusError{http.StatusRequestEntityTooLarge,
			fmt.Errorf("weave-switch docker proxy: container create body over %d bytes", s.cfg.MaxBody)})
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.Header.Del("Transfer-Encoding")
	wt, err := s.planCreate(r.Context(), body)
	if err != nil {
		s.fail(w, r, "create", &statusError{http.StatusBadRequest, err})
		return
	}
	if nb, ok := s.passDNS(body, wt); ok {
		r.Body = io.NopCloser(bytes.NewReader(nb))
		r.ContentLength = int64(len(nb))
	}
	if wt != nil {
		r = r.WithContext(context.WithValue(r.Context(), wantKey{}, wt))
	}
	s.rp.ServeHTTP(w, r)
}

// maxCreateResponse bounds the daemon's answer to a create the proxy
// reads: an ID and a few warnings.
const maxCreateResponse = 1 << 20

// modifyResponse implements httputil.ReverseProxy.ModifyResponse: on a
// successful create it had planned, it gives the new container its
// addresses and the weave network before the client sees the answer.
func (s *Service) modifyResponse(resp *http.Response) error {
	wt, _ := resp.Request.Context().Value(wantKey{}).(*want)
	if wt == nil || resp.StatusCode != http.StatusCreated {
		return nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxCreateResponse))
	resp.Body.Close()
	if err != nil {
		return &statusError{http.StatusBadGateway, fmt.Errorf("reading the daemon's answer to create: %w", err)}
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	var created struct {
		ID string `json:"Id"`
	}
	if err := json.Unmarshal(raw, &created); err != nil || created.ID == "" {
		return &statusError{http.StatusBadGateway, fmt.Errorf("the daemon's answer to create has no container ID: %q", raw)}
	}
	return s.wire(resp.Request.Context(), created.ID, wt)
}

// cleanupTimeout bounds removing a container the proxy could not wire,
// which runs even when the client has gone.
const cleanupTimeout = 30 * time.Second

// wire reserves the addresses of the created container id and connects
// it to the weave network; on failure it removes the container.
func (s *Service) wire(ctx context.Context, id string, wt *want) error {
	key := docker.ContainerKey(id)
	addrs, _, err := s.cfg.Addresses.Assign(ctx, key, wt.cidrs, wt.specs)
	if err == nil && (len(addrs) == 0 || !addrs[0].Addr().Is4()) {
		s.cfg.Addresses.Release(key)
		err = fmt.Errorf("no IPv4 address among %v", addrs)
	}
	if err != nil {
		code := http.StatusInternalServerError
		if errors.As(err, new(*api.BadRequestError)) {
			code = http.StatusBadRequest
		}
		s.removeCreated(id)
		return &statusError{code, fmt.Errorf("weave-switch: no address for the container (%w); container removed", err)}
	}
	netw, err := s.networkFor(ctx, addrs[0])
	if err == nil {
		err = s.daemon.connect(ctx, netw, id, addrs[0].Addr(), addrs[1:])
	}
	if err != nil {
		s.removeCreated(id)
		s.cfg.Addresses.Release(key)
		return &statusError{http.StatusInternalServerError,
			fmt.Errorf("weave-switch: connecting the container to network %q with address %s: %w; container removed", netw, addrs[0], err)}
	}
	s.metrics.rewrites.Inc()
	s.log.Info("container on the weave network", "container", id, "network", netw, "addrs", addrs)
	return nil
}

// networkFor is the Docker network a container whose first address is
// first joins: the default network when its subnet holds first, else
// the network of first's own subnet, made on first use.
func (s *Service) networkFor(ctx context.Context, first netip.Prefix) (string, error) {
	if !s.cfg.Subnet.IsValid() || s.cfg.Subnet.Contains(first.Addr()) {
		return s.cfg.Network, nil
	}
	sub := first.Masked()
	name := docker.SubnetNetwork(sub)
	if err := s.daemon.ensureNetwork(ctx, name, sub); err != nil {
		return name, err
	}
	return name, nil
}

// removeCreated removes a container the proxy created but could not
// wire. A failure is logged: the events watcher releases what is left
// once the container goes.
func (s *Service) removeCreated(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := s.daemon.remove(ctx, id); err != nil {
		s.metrics.errors.WithLabelValues("remove").Inc()
		s.log.Error("removing a container the proxy could not wire", "container", id, "err", err)
	}
}
