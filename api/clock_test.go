package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeClock struct{ offset float64 }

func (f *fakeClock) StepClock(_ context.Context, r ClockStepRequest) (ClockStepResponse, error) {
	f.offset += r.Seconds
	return ClockStepResponse{Offset: f.offset}, nil
}

func TestStepClock(t *testing.T) {
	fc := &fakeClock{}
	b := backends(&fakeBackend{}, nil)
	b.Clock = fc
	c := serveAll(t, b)
	ctx := context.Background()
	if r, err := c.StepClock(ctx, 3600); err != nil || r.Offset != 3600 {
		t.Fatalf("StepClock(3600) = %+v, %v", r, err)
	}
	if r, err := c.StepClock(ctx, -4200); err != nil || r.Offset != -600 {
		t.Fatalf("StepClock(-4200) = %+v, %v", r, err)
	}
}

// Without a Clock backend the route does not exist.
func TestStepClockOff(t *testing.T) {
	h := NewHandler(backends(&fakeBackend{}, nil))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/debug/clock", strings.NewReader(`{"seconds":1}`)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("POST /v1/debug/clock without a clock: %d, want 404", rec.Code)
	}
}
