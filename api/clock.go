package api

import (
	"context"
	"net/http"
)

// ClockStepRequest steps the router's wall clock (a test hook, served
// only when the router was started with it).
type ClockStepRequest struct {
	// Seconds to move the clock by: forward if positive, backward if
	// negative.
	Seconds float64 `json:"seconds"`
}

// ClockStepResponse answers a ClockStepRequest.
type ClockStepResponse struct {
	// Offset is how far, in seconds, the router's clock is from the
	// system's after the step.
	Offset float64 `json:"offset"`
}

// Clock steps the router's wall clock.
type Clock interface {
	StepClock(ctx context.Context, req ClockStepRequest) (ClockStepResponse, error)
}

func registerClock(mux *http.ServeMux, c Clock) {
	mux.HandleFunc("POST /v1/debug/clock", handle(c.StepClock))
}

// StepClock moves the router's clock by seconds (POST /v1/debug/clock).
// Routers started without the test clock answer 404.
func (c *Client) StepClock(ctx context.Context, seconds float64) (ClockStepResponse, error) {
	var out ClockStepResponse
	return out, c.do(ctx, http.MethodPost, "/v1/debug/clock", ClockStepRequest{Seconds: seconds}, &out)
}
