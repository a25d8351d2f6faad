package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"

	"github.com/weave-switch/weave-switch/api"
)

//go:embed static
var static embed.FS

// StatusPath is where the page fetches its status from, relative to the
// page.
const StatusPath = "web/status"

// contentSecurityPolicy lets the page load only its own script and
// stylesheet and fetch only its own status: no external asset, no inline
// script.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the status page at /, its assets under /web/ and the
// status it shows at /web/status, from status (called once per request;
// it must be safe for concurrent use). It answers GET and HEAD only.
func Handler(status func() api.Status) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: embedded assets: " + err.Error()) // the embed directive guarantees the directory
	}
	files := http.StripPrefix("/web/", http.FileServerFS(sub))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, sub, "index.html")
	})
	mux.Handle("GET /web/app.js", files)
	mux.Handle("GET /web/style.css", files)
	mux.HandleFunc("GET /"+StatusPath, func(w http.ResponseWriter, r *http.Request) {
		st := status()
		h := api.CheckHealth(st)
		st.Health = &h
		st.Schema = api.SchemaVersion
		b, err := json.Marshal(st)
		if err != nil {
			http.Error(w, "encode status: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(b)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}
