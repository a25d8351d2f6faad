// Package api is the router's local control API: JSON over HTTP on a unix
// socket (default /run/weave-switch/weave-switch.sock). The daemon serves
// it with NewHandler; the CLI and any other local client use Client.
//
// Routes (the API under /v1, served by the daemon on the socket):
//
//	GET  /v1/status          Status
//	POST /v1/attach          AttachRequest -> Attachment
//	POST /v1/detach          DetachRequest -> DetachResponse
//	POST /v1/connect         ConnectRequest
//	POST /v1/forget          ConnectRequest -> ForgetResponse
//	GET  /metrics            Prometheus metrics (served by the daemon)
//	GET  /                   the live status page (package web), and its
//	GET  /web/status         Status with its Health, which the page polls
//
// Every status answer carries the Health that CheckHealth finds in it, so
// that `weave-switch status`, its exit code and the status page agree.
//
// Errors are returned as {"error": "..."} with a 4xx/5xx status.
package api
