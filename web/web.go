package web

import (
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"time"

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

// Source is what the page shows. Its functions are called once per poll
// and must be safe for concurrent use.
type Source struct {
	// Status is the router's status. Required.
	Status func() api.Status
	// DNS, if set, is the mesh's DNS registry: the page names the local
	// containers with the names registered for their addresses.
	DNS func() api.DNSStatus
}

// pageStatus is the JSON the page polls: the API status (with its
// health) and this router's DNS names.
type pageStatus struct {
	api.Status
	// Names are the DNS names this router registered (attach --name,
	// dns-add), by address.
	Names []api.DNSEntry `json:"names,omitempty"`
	// Time is when the status was taken, in seconds since the Unix
	// epoch: the page divides the byte counters' change by the change of
	// Time, so that its rates depend neither on the browser's clock nor
	// on how late a poll came back.
	Time float64 `json:"time"`
}

// Handler serves the status page at /, its assets under /web/ and the
// status it shows at /web/status, from src. It answers GET and HEAD only.
func Handler(src Source) http.Handler {
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
		ps := pageStatus{Status: src.Status(), Time: float64(time.Now().UnixMicro()) / 1e6}
		h := api.CheckHealth(ps.Status)
		ps.Health = &h
		ps.Schema = api.SchemaVersion
		if src.DNS != nil {
			for _, e := range src.DNS().Entries {
				if e.Local {
					ps.Names = append(ps.Names, e)
				}
			}
		}
		b, err := json.Marshal(ps)
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
