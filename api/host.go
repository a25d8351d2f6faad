package api

import (
	"context"
	"net/http"
	"net/netip"
)

// HostBackend serves host integration and isolation: exposed
// addresses, allowed pairs and forwarded services.
type HostBackend interface {
	Expose(ctx context.Context, req ExposeRequest) (ExposeResponse, error)
	Hide(ctx context.Context, req ExposeRequest) (ExposeResponse, error)
	Allow(ctx context.Context, req PairRequest) error
	Deny(ctx context.Context, req PairRequest) (DenyResponse, error)
	AddService(ctx context.Context, s Service) error
	RemoveService(ctx context.Context, s Service) (RemoveServiceResponse, error)
	// HostStatus is HostStatus with fresh drop counters.
	HostStatus() HostStatus
}

// ExposeRequest asks to give the host addresses on the bridge (expose)
// or take them away (hide). For expose, CIDRs are used as given and
// Subnets ("net:CIDR", "app:NAME", "net:default") allocated from; with
// neither, an address of the default subnet. For hide, CIDRs name exposed
// addresses and Subnets the address expose allocated for the same spec;
// with neither, all of them.
type ExposeRequest struct {
	CIDRs   []netip.Prefix `json:"cidrs"`
	Subnets []string       `json:"subnets,omitempty"`
	// Masquerade (expose only): containers in these subnets reach the
	// outside world through this host, their source rewritten.
	Masquerade bool `json:"masquerade,omitempty"`
}

// ExposeResponse lists the addresses added or removed.
type ExposeResponse struct {
	Addrs []netip.Prefix `json:"addrs"`
}

// PairRequest names two application subnets for allow or deny.
type PairRequest struct {
	A netip.Prefix `json:"a"`
	B netip.Prefix `json:"b"`
}

// DenyResponse says whether the pair had been allowed.
type DenyResponse struct {
	Removed bool `json:"removed"`
}

// Service is a published (host port to container) or imported (exposed
// address to outside service) port forwarding.
type Service struct {
	Kind   string         `json:"kind"`  // "publish" or "import"
	Proto  string         `json:"proto"` // "tcp" or "udp"
	Listen netip.AddrPort `json:"listen"`
	Target netip.AddrPort `json:"target,omitzero"`
}

// RemoveServiceResponse says whether the service existed.
type RemoveServiceResponse struct {
	Removed bool `json:"removed"`
}

// HostStatus is the host side of the router: isolation, exposed
// addresses, services.
type HostStatus struct {
	// Isolation reports whether the bridge filter is on.
	Isolation bool `json:"isolation"`
	// Allowed lists the allowed pairs as "A B", as the rules in the
	// kernel have them.
	Allowed  []string      `json:"allowed"`
	Exposed  []ExposedAddr `json:"exposed"`
	Services []Service     `json:"services"`
	// Drops by host veth; only from /v1/isolation (status isolation).
	Drops map[string]Drop `json:"drops,omitempty"`
	// Forwarding reports whether the router turned IPv4 forwarding on.
	Forwarding bool `json:"forwarding"`
}

// ExposedAddr is one address the host holds on the bridge.
type ExposedAddr struct {
	Addr       netip.Prefix `json:"addr"`
	Masquerade bool         `json:"masquerade"`
}

// Drop counts frames the isolation filter dropped at one port.
type Drop struct {
	SpoofedMAC       uint64 `json:"spoofed_mac"`
	Spoofed          uint64 `json:"spoofed"`
	OtherApplication uint64 `json:"other_application"`
}

func registerHost(mux *http.ServeMux, hb HostBackend) {
	mux.HandleFunc("GET /v1/isolation", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, hb.HostStatus())
	})
	mux.HandleFunc("POST /v1/expose", handle(hb.Expose))
	mux.HandleFunc("POST /v1/hide", handle(hb.Hide))
	mux.HandleFunc("POST /v1/allow", handle(noResult(hb.Allow)))
	mux.HandleFunc("POST /v1/deny", handle(hb.Deny))
	mux.HandleFunc("POST /v1/service", handle(noResult(hb.AddService)))
	mux.HandleFunc("DELETE /v1/service", handle(hb.RemoveService))
}

// Expose gives the host addresses on the bridge.
func (c *Client) Expose(ctx context.Context, req ExposeRequest) (ExposeResponse, error) {
	var out ExposeResponse
	return out, c.do(ctx, http.MethodPost, "/v1/expose", req, &out)
}

// Hide removes exposed addresses (all of them if req has none).
func (c *Client) Hide(ctx context.Context, req ExposeRequest) (ExposeResponse, error) {
	var out ExposeResponse
	return out, c.do(ctx, http.MethodPost, "/v1/hide", req, &out)
}

// Allow lets two application subnets talk.
func (c *Client) Allow(ctx context.Context, a, b netip.Prefix) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/allow", PairRequest{A: a, B: b}, &out)
}

// Deny removes an allowed pair.
func (c *Client) Deny(ctx context.Context, a, b netip.Prefix) (DenyResponse, error) {
	var out DenyResponse
	return out, c.do(ctx, http.MethodPost, "/v1/deny", PairRequest{A: a, B: b}, &out)
}

// AddService publishes or imports a port.
func (c *Client) AddService(ctx context.Context, s Service) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/service", s, &out)
}

// RemoveService removes a published or imported port (matched by kind,
// protocol and listen address).
func (c *Client) RemoveService(ctx context.Context, s Service) (RemoveServiceResponse, error) {
	var out RemoveServiceResponse
	return out, c.do(ctx, http.MethodDelete, "/v1/service", s, &out)
}

// HostStatus fetches isolation, exposed addresses, services and the
// filter's drop counters.
func (c *Client) HostStatus(ctx context.Context) (HostStatus, error) {
	var out HostStatus
	return out, c.do(ctx, http.MethodGet, "/v1/isolation", nil, &out)
}
