package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

// TestForwarder: calls reach the router's socket as they are, and a
// router that is down gives the protocol's error.
func TestForwarder(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "plugin.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write([]byte(`{"Path":"` + r.URL.Path + `","Body":` + string(b) + `}`))
	})}
	go srv.Serve(ln)
	fw := Forwarder(sock, slog.New(slog.DiscardHandler))

	w := httptest.NewRecorder()
	fw.ServeHTTP(w, httptest.NewRequest("POST", "/IpamDriver.RequestPool", strings.NewReader(`{"Pool":"10.40.7.0/24"}`)))
	if w.Code != 200 || w.Body.String() != `{"Path":"/IpamDriver.RequestPool","Body":{"Pool":"10.40.7.0/24"}}` {
		t.Fatalf("forwarded: %d %q", w.Code, w.Body)
	}
	srv.Close()

	w = httptest.NewRecorder()
	fw.ServeHTTP(w, httptest.NewRequest("POST", "/Plugin.Activate", nil))
	var e struct{ Err string }
	if w.Code != 500 || w.Header().Get("Content-Type") != contentType || json.Unmarshal(w.Body.Bytes(), &e) != nil || !strings.Contains(e.Err, "not reachable") {
		t.Fatalf("router down: %d %q", w.Code, w.Body)
	}
}
