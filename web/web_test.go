package web

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/weave-switch/weave-switch/api"
)

func fakeStatus() api.Status {
	return api.Status{Name: "02:00:00:00:00:01", Nickname: "h1",
		Peers:       []api.Peer{{Name: "02:00:00:00:00:01", Nickname: "h1", Reachable: true, Links: []string{"02:00:00:00:00:02"}}, {Name: "02:00:00:00:00:02", Nickname: "h2"}},
		Connections: []api.Connection{{Peer: "02:00:00:00:00:02", State: "pending", Direction: "outbound", Address: "192.0.2.2:6783"}}}
}

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := Handler(Source{Status: fakeStatus})
	tests := []struct {
		name, method, path string
		code               int
		ctype, body        string
	}{
		{"page", "GET", "/", 200, "text/html", `<script src="web/app.js" defer></script>`},
		{"script", "GET", "/web/app.js", 200, "javascript", "web/status"},
		{"stylesheet", "GET", "/web/style.css", 200, "text/css", "data-state"},
		{"status", "GET", "/web/status", 200, "application/json", `"problems":["no link is up`},
		{"no listing", "GET", "/web/", 404, "", ""},
		{"no other file", "GET", "/web/index.html", 404, "", ""},
		{"read-only", "POST", "/web/status", 405, "", ""},
		{"nothing else", "GET", "/v1/status", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.path)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.code)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			if !strings.Contains(string(b), tt.body) {
				t.Errorf("body has no %q:\n%.400s", tt.body, b)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

// The page's status is the API's, with its health and schema version.
func TestStatusJSON(t *testing.T) {
	resp := get(t, Handler(Source{Status: fakeStatus}), "GET", "/"+StatusPath)
	var st api.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Schema != api.SchemaVersion || st.Health == nil || st.Health.OK || len(st.Peers) != 2 || st.Peers[0].Links[0] != "02:00:00:00:00:02" {
		t.Errorf("status %+v, health %+v", st, st.Health)
	}
}

// The page uses no external asset: every src and href is the page's own
// or inline data.
func TestNoExternalAssets(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "style.css"} {
		b, err := static.ReadFile("static/" + name)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"https://", "http://", "//cdn", "@import", "innerHTML", "eval("} {
			s := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

func TestServer(t *testing.T) {
	if _, err := New(Config{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("New without Status: no error")
	}
	if _, err := New(Config{Addr: "6784", Source: Source{Status: fakeStatus}}); err == nil {
		t.Error("New with a port only: no error")
	}
	s, err := New(Config{Addr: "127.0.0.1:0", Source: Source{Status: fakeStatus}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" {
		t.Errorf("Addr before Start = %q", s.Addr())
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("second Start: no error")
	}
	resp, err := http.Get(URL(s.Addr()) + StatusPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET status: %d", resp.StatusCode)
	}
	taken, err := New(Config{Addr: s.Addr(), Source: Source{Status: fakeStatus}})
	if err != nil {
		t.Fatal(err)
	}
	if err := taken.Start(); err == nil || !strings.Contains(err.Error(), "--http-addr") {
		t.Errorf("Start on a taken address: %v", err)
	}
	addr := s.Addr()
	s.Close()
	s.Close()
	if _, err := http.Get(URL(addr)); err == nil {
		t.Error("still serving after Close")
	}
}

func TestURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6784":  "http://127.0.0.1:6784/",
		"0.0.0.0:6784":    "http://127.0.0.1:6784/",
		"[::]:6784":       "http://[::1]:6784/",
		"192.0.2.1:80":    "http://192.0.2.1:80/",
		"localhost:6784":  "http://localhost:6784/",
		"[2001:db8::1]:1": "http://[2001:db8::1]:1/",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q) = %q, want %q", in, got, want)
		}
	}
}

// The page's status names the local containers from the DNS registry.
func TestStatusNames(t *testing.T) {
	dns := func() api.DNSStatus {
		return api.DNSStatus{Entries: []api.DNSEntry{
			{Name: "web.weave.local.", Addr: netip.MustParseAddr("10.32.0.3"), Local: true},
			{Name: "db.weave.local.", Addr: netip.MustParseAddr("10.32.0.9"), Owner: "02:00:00:00:00:09"},
		}}
	}
	resp := get(t, Handler(Source{Status: fakeStatus, DNS: dns}), "GET", "/"+StatusPath)
	var ps pageStatus
	if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil {
		t.Fatal(err)
	}
	if len(ps.Names) != 1 || ps.Names[0].Name != "web.weave.local." || ps.Name != "02:00:00:00:00:01" {
		t.Errorf("names %+v (status name %q)", ps.Names, ps.Name)
	}
}
