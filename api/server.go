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
	mux.HandleFunc("POST /v1/attach", func(w http.ResponseWriter, r *http.Request) {
		var req AttachRequest
		if !readJSON(w, r, &req) {
			return
		}
		a, err := b.Attach(r.Context(), req)
		reply(w, a, err)
	})
	mux.HandleFunc("POST /v1/detach", func(w http.ResponseWriter, r *http.Request) {
		var req DetachRequest
		if !readJSON(w, r, &req) {
			return
		}
		d, err := b.Detach(r.Context(), req)
		reply(w, d, err)
	})
	mux.HandleFunc("POST /v1/connect", func(w http.ResponseWriter, r *http.Request) {
		var req ConnectRequest
		if !readJSON(w, r, &req) {
			return
		}
		reply(w, struct{}{}, b.Connect(r.Context(), req))
	})
	mux.HandleFunc("POST /v1/forget", func(w http.ResponseWriter, r *http.Request) {
		var req ConnectRequest
		if !readJSON(w, r, &req) {
			return
		}
		f, err := b.Forget(r.Context(), req)
		reply(w, f, err)
	})
	mux.HandleFunc("POST /v1/rmpeer", func(w http.ResponseWriter, r *http.Request) {
		var req RmPeerRequest
		if !readJSON(w, r, &req) {
			return
		}
		res, err := b.RmPeer(r.Context(), req)
		reply(w, res, err)
	})
	registerHost(mux, b)
	// Profiling, as Docker does on its socket: only local root reaches it.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	return mux
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
