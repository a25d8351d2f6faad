package api

import (
	"context"
	"net/http"
	"net/netip"
)

// DNSBackend serves the names registered in the mesh: dns-add,
// dns-remove and status dns.
type DNSBackend interface {
	DNSAdd(ctx context.Context, req DNSRequest) (DNSResponse, error)
	DNSRemove(ctx context.Context, req DNSRequest) (DNSResponse, error)
	DNSStatus() DNSStatus
}

// DNSRequest names addresses and a name: dns-add registers the name for
// each address; dns-remove drops this router's entries for the
// addresses (only those of the name, if given).
type DNSRequest struct {
	Addrs []netip.Addr `json:"addrs"`
	Name  string       `json:"name,omitempty"`
}

// DNSResponse says what a dns-add or dns-remove changed.
type DNSResponse struct {
	// Name is the name as registered (lower case, fully qualified).
	Name string `json:"name,omitempty"`
	// Changed counts the entries added or removed.
	Changed int `json:"changed"`
}

// DNSStatus is the DNS server and the names it knows.
type DNSStatus struct {
	Domain string `json:"domain"`
	// Listen is where the server is told to listen: an address and
	// port, or "bridge NAME, port N" for each of the bridge's IPv4
	// addresses.
	Listen string `json:"listen"`
	// Serving are the addresses served now (none while the bridge has
	// no IPv4 address).
	Serving   []string `json:"serving"`
	TTL       int      `json:"ttl_seconds"`
	Upstreams []string `json:"upstreams"`
	// Entries are the names of every router, sorted by name.
	Entries []DNSEntry `json:"entries"`
	// Tombstones are the routers whose names were dropped (gone or
	// removed) and not yet forgotten.
	Tombstones []DNSTombstone `json:"tombstones"`
	// Dropped counts queries dropped because too many were being
	// forwarded; GossipRefused the registers gossip brought that were
	// refused, by reason.
	Dropped       uint64            `json:"dropped"`
	GossipRefused map[string]uint64 `json:"gossip_refused"`
}

// DNSEntry is one name and address, with the router that owns it.
type DNSEntry struct {
	Name          string     `json:"name"`
	Addr          netip.Addr `json:"addr"`
	Owner         string     `json:"owner"`
	OwnerNickname string     `json:"owner_nickname,omitempty"`
	// Local reports whether this router owns the entry.
	Local bool `json:"local"`
	// Key is the container on its owner ("dns-add" for dns-add).
	Key string `json:"key"`
}

// DNSTombstone is a router whose names were dropped.
type DNSTombstone struct {
	Owner string `json:"owner"`
	// Stamp is the owner's stamp the tombstone covers.
	Stamp uint64 `json:"stamp"`
}

func registerDNS(mux *http.ServeMux, d DNSBackend) {
	mux.HandleFunc("GET /v1/dns", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.DNSStatus())
	})
	mux.HandleFunc("POST /v1/dns/add", handle(d.DNSAdd))
	mux.HandleFunc("POST /v1/dns/remove", handle(d.DNSRemove))
}

// DNSAdd registers name for addrs on the router.
func (c *Client) DNSAdd(ctx context.Context, addrs []netip.Addr, name string) (DNSResponse, error) {
	var out DNSResponse
	return out, c.do(ctx, http.MethodPost, "/v1/dns/add", DNSRequest{Addrs: addrs, Name: name}, &out)
}

// DNSRemove drops the router's entries for addrs (of name, if not empty).
func (c *Client) DNSRemove(ctx context.Context, addrs []netip.Addr, name string) (DNSResponse, error) {
	var out DNSResponse
	return out, c.do(ctx, http.MethodPost, "/v1/dns/remove", DNSRequest{Addrs: addrs, Name: name}, &out)
}

// DNSStatus returns the DNS server's state and every name it knows.
func (c *Client) DNSStatus(ctx context.Context) (DNSStatus, error) {
	var out DNSStatus
	return out, c.do(ctx, http.MethodGet, "/v1/dns", nil, &out)
}
