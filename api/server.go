package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"strconv"
)

// SchemaVersion is the version of the JSON the API returns: every object
// it answers with carries it as "schema". It changes when a field changes
// meaning or goes away; new fields do not change it. Version 2: durations
// are numbers of seconds (rtt, heartbeat_interval, down_after), no
// longer Go duration strings.
const SchemaVersion = 2

// Containers attaches network namespaces to the bridge.
type Containers interface {
	Attach(ctx context.Context, req AttachRequest) (Attachment, error)
	Detach(ctx context.Context, req DetachRequest) (DetachResponse, error)
}

// Peers connects to peers and forgets them.
type Peers interface {
	Connect(ctx context.Context, req ConnectRequest) error
	Forget(ctx context.Context, req ConnectRequest) (ForgetResponse, error)
}

// IPAM reclaims the address space of dead peers.
type IPAM interface {
	RmPeer(ctx context.Context, req RmPeerRequest) (RmPeerResponse, error)
}

// Backends are the services behind the API. A nil one leaves its routes
// out (they answer 404).
type Backends struct {
	Status     func() Status
	Containers Containers
	Peers      Peers
	IPAM       IPAM
	Host       HostBackend
	// JoinToken returns the token another host joins the mesh with.
	JoinToken func() (string, error)
	// Shutdown stops the router (weave-switch down): it does what req
	// asks first, answers, and the router then tears down.
	Shutdown func(ctx context.Context, req DownRequest) (DownResponse, error)
	// DNS serves dns-add, dns-remove and status dns.
	DNS DNSBackend
	// Clock steps the router's wall clock (POST /v1/debug/clock): set
	// only for a router started with the test clock.
	Clock Clock
}

// BadRequestError marks an error caused by the request (HTTP 400).
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// NewHandler serves the API over b.
func NewHandler(b Backends) http.Handler {
	mux := http.NewServeMux()
	if b.Status != nil {
		mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
			st := b.Status()
			h := CheckHealth(st)
			st.Health = &h
			writeJSON(w, http.StatusOK, st)
		})
	}
	if c := b.Containers; c != nil {
		mux.HandleFunc("POST /v1/attach", handle(c.Attach))
		mux.HandleFunc("POST /v1/detach", handle(c.Detach))
	}
	if p := b.Peers; p != nil {
		mux.HandleFunc("POST /v1/connect", handle(noResult(p.Connect)))
		mux.HandleFunc("POST /v1/forget", handle(p.Forget))
	}
	if i := b.IPAM; i != nil {
		mux.HandleFunc("POST /v1/rmpeer", handle(i.RmPeer))
	}
	if h := b.Host; h != nil {
		registerHost(mux, h)
	}
	if d := b.DNS; d != nil {
		registerDNS(mux, d)
	}
	if c := b.Clock; c != nil {
		registerClock(mux, c)
	}
	if j := b.JoinToken; j != nil {
		mux.HandleFunc("GET /v1/join-token", func(w http.ResponseWriter, r *http.Request) {
			tok, err := j()
			if err != nil {
				reply(w, nil, &BadRequestError{err})
				return
			}
			reply(w, JoinToken{Schema: SchemaVersion, Token: tok}, nil)
		})
	}
	if d := b.Shutdown; d != nil {
		mux.HandleFunc("POST /v1/down", handle(d))
	}
	// Profiling, as Docker does on its socket: only local root reaches it.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	return mux
}

// handle serves one JSON call: it decodes the request into a Req, calls
// fn with it and writes its result or error.
func handle[Req, Resp any](fn func(context.Context, Req) (Resp, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if readJSON(w, r, &req) {
			out, err := fn(r.Context(), req)
			reply(w, out, err)
		}
	}
}

// noResult adapts a call that returns only an error; it answers {}.
func noResult[Req any](fn func(context.Context, Req) error) func(context.Context, Req) (struct{}, error) {
	return func(ctx context.Context, req Req) (struct{}, error) { return struct{}{}, fn(ctx, req) }
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		code := http.StatusInternalServerError
		if errors.As(err, new(*BadRequestError)) {
			code = http.StatusBadRequest
		}
		writeJSON(w, code, Error{Error: err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, Error{Error: fmt.Sprintf("bad request: %v", err)})
		return false
	}
	return true
}

// writeJSON answers v as JSON; an object gets the schema version as its
// first field, unless it carries one already.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(Error{Error: "encode reply: " + err.Error()})
	}
	if len(b) > 1 && b[0] == '{' && !bytes.HasPrefix(b, []byte(`{"schema":`)) {
		head := `{"schema":` + strconv.Itoa(SchemaVersion)
		if b[1] != '}' {
			head += ","
		}
		b = append([]byte(head), b[1:]...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
