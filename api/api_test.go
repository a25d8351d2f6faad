package api

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type fakeBackend struct{ attached []AttachRequest }

func (f *fakeBackend) Status() Status {
	return Status{Schema: SchemaVersion, Name: "02:00:00:00:00:01", MTU: 1426}
}
func (f *fakeBackend) Attach(_ context.Context, r AttachRequest) (Attachment, error) {
	if r.NetNS == "missing" {
		return Attachment{}, &BadRequestError{Err: errors.New(`network namespace "missing" not found`)}
	}
	if r.NetNS == "broken" {
		return Attachment{}, errors.New("netlink exploded")
	}
	f.attached = append(f.attached, r)
	return Attachment{NetNS: r.NetNS, Addrs: r.CIDRs}, nil
}
func (f *fakeBackend) Detach(_ context.Context, r DetachRequest) (DetachResponse, error) {
	return DetachResponse{Detached: r.NetNS == "ns1"}, nil
}
func (f *fakeBackend) Connect(_ context.Context, r ConnectRequest) error {
	if r.Address == "" {
		return &BadRequestError{Err: errors.New("connect: no address")}
	}
	return nil
}
func (f *fakeBackend) Forget(_ context.Context, r ConnectRequest) (ForgetResponse, error) {
	return ForgetResponse{Forgotten: r.Address == "192.0.2.1"}, nil
}

func (f *fakeBackend) RmPeer(_ context.Context, r RmPeerRequest) (RmPeerResponse, error) {
	if len(r.Names) == 1 && r.Names[0] == "h3" {
		return RmPeerResponse{Reclaimed: 1024}, nil
	}
	return RmPeerResponse{}, &BadRequestError{Err: errors.New("rmpeer refused: h2 is alive and reachable")}
}

// serve runs the handler on a unix socket, as the daemon does.
func serve(t *testing.T, b *fakeBackend) *Client { return serveAll(t, backends(b, nil)) }

// backends serves f's routes, and h's host routes if h is not nil.
func backends(f *fakeBackend, h HostBackend) Backends {
	return Backends{Status: f.Status, Containers: f, Peers: f, IPAM: f, Host: h}
}

func serveAll(t *testing.T, b Backends) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: NewHandler(b)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return NewClient(sock)
}

func TestClientServer(t *testing.T) {
	b := &fakeBackend{}
	c := serve(t, b)
	ctx := context.Background()
	s, err := c.Status(ctx)
	if err != nil || s.Name != "02:00:00:00:00:01" || s.MTU != 1426 {
		t.Fatalf("Status = %+v, %v", s, err)
	}
	p := netip.MustParsePrefix("10.32.0.1/12")
	a, err := c.Attach(ctx, AttachRequest{NetNS: "ns1", CIDRs: []netip.Prefix{p}})
	if err != nil || a.NetNS != "ns1" || len(a.Addrs) != 1 || a.Addrs[0] != p {
		t.Fatalf("Attach = %+v, %v", a, err)
	}
	if _, err := c.Attach(ctx, AttachRequest{NetNS: "missing"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Attach(missing) error = %v", err)
	}
	if _, err := c.Attach(ctx, AttachRequest{NetNS: "broken"}); err == nil || !strings.Contains(err.Error(), "exploded") {
		t.Errorf("Attach(broken) error = %v", err)
	}
	if d, err := c.Detach(ctx, DetachRequest{NetNS: "ns1"}); err != nil || !d.Detached {
		t.Errorf("Detach = %+v, %v", d, err)
	}
	if err := c.Connect(ctx, "", ""); err == nil || !strings.Contains(err.Error(), "no address") {
		t.Errorf("Connect(\"\") error = %v", err)
	}
	if f, err := c.Forget(ctx, "192.0.2.1"); err != nil || !f.Forgotten {
		t.Errorf("Forget = %+v, %v", f, err)
	}
	if r, err := c.RmPeer(ctx, []string{"h3"}); err != nil || r.Reclaimed != 1024 {
		t.Errorf("RmPeer = %+v, %v", r, err)
	}
	if _, err := c.RmPeer(ctx, []string{"h2"}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("RmPeer(live) error = %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	h := NewHandler(backends(&fakeBackend{}, nil))
	tests := []struct {
		name, method, path, body string
		code                     int
	}{
		{"garbage json", "POST", "/v1/attach", "{not json", http.StatusBadRequest},
		{"unknown field", "POST", "/v1/attach", `{"netns":"x","bogus":1}`, http.StatusBadRequest},
		{"bad cidr", "POST", "/v1/attach", `{"netns":"x","cidrs":["10.32.0.1"]}`, http.StatusBadRequest},
		{"backend says bad request", "POST", "/v1/attach", `{"netns":"missing"}`, http.StatusBadRequest},
		{"backend fails", "POST", "/v1/attach", `{"netns":"broken"}`, http.StatusInternalServerError},
		{"wrong method", "GET", "/v1/attach", "", http.StatusMethodNotAllowed},
		{"unknown path", "GET", "/v1/nope", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Errorf("%s %s: code %d, want %d (%s)", tt.method, tt.path, rec.Code, tt.code, rec.Body.String())
			}
		})
	}
}

func TestNoRouter(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Status(context.Background()); err == nil || !strings.Contains(err.Error(), "no router is running") {
		t.Errorf("Status error = %v", err)
	}
}

// Every object the API answers with carries the schema version first,
// errors and empty replies included.
func TestSchemaVersion(t *testing.T) {
	h := NewHandler(backends(&fakeBackend{}, nil))
	for _, tt := range []struct{ method, path, body, want string }{
		{"GET", "/v1/status", "", `{"schema":SCHEMA,"name":"02:00:00:00:00:01"`},
		{"POST", "/v1/connect", `{"address":"192.0.2.1"}`, `{"schema":SCHEMA}`},
		{"POST", "/v1/attach", `{"netns":"missing"}`, `{"schema":SCHEMA,"error":`},
		{"POST", "/v1/forget", `{"address":"192.0.2.1"}`, `{"schema":SCHEMA,"forgotten":true}`},
	} {
		req, _ := http.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(tt.body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want := strings.Replace(tt.want, "SCHEMA", strconv.Itoa(SchemaVersion), 1)
		if got := rec.Body.String(); !strings.HasPrefix(got, want) {
			t.Errorf("%s %s = %s, want it to start with %s", tt.method, tt.path, got, want)
		}
	}
}
