package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
)

// Backend is what the daemon provides to the API.
type Backend interface {
	Status() Status
	Attach(ctx context.Context, req AttachRequest) (Attachment, error)
	Detach(ctx context.Context, req DetachRequest) (DetachResponse, error)
	Connect(ctx context.Context, req ConnectRequest) error
	Forget(ctx context.Context, req ConnectRequest) (ForgetResponse, error)
	RmPeer(ctx context.Context, req RmPeerRequest) (RmPeerResponse, error)
}

// BadRequestError marks an error caused by the request (HTTP 400).
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

// NewHandler serves the API over b.
func NewHandler(b Backend) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, b.Status())
	})
	mux.HandleFunc("POST /v1/attach", handle(b.Attach))
	mux.HandleFunc("POST /v1/detach", handle(b.Detach))
	mux.HandleFunc("POST /v1/connect", handle(noResult(b.Connect)))
	mux.HandleFunc("POST /v1/forget", handle(b.Forget))
	mux.HandleFunc("POST /v1/rmpeer", handle(b.RmPeer))
	registerHost(mux, b)
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

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
