package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// DownRequest asks the router to stop (weave-switch down).
type DownRequest struct {
	// Leave: before stopping, hand this host's address ranges to a live
	// peer and leave the allocation ring, so that retiring the host needs
	// no rmpeer.
	Leave bool `json:"leave,omitempty"`
}

// DownResponse answers a DownRequest: the router stops once it is sent.
type DownResponse struct {
	// PID is the router's process, which exits once it has removed what
	// it made.
	PID int `json:"pid"`
	// Heir is the peer that got this host's address ranges (with
	// Leave), and Handed how many addresses; Heir is empty when there
	// was nobody to hand them to.
	Heir   string `json:"heir,omitempty"`
	Handed uint64 `json:"handed,omitempty"`
}

// Down asks the router to stop, leaving the allocation ring first with
// leave. It returns once the router has accepted; the process exits
// after it has torn everything down (see Client.WaitGone).
func (c *Client) Down(ctx context.Context, leave bool) (DownResponse, error) {
	var d DownResponse
	return d, c.do(ctx, http.MethodPost, "/v1/down", DownRequest{Leave: leave}, &d)
}

// WaitGone waits until no router answers on the socket (after Down), or
// ctx is done.
func (c *Client) WaitGone(ctx context.Context) error {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if _, err := c.Status(ctx); errors.Is(err, ErrNoRouter) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the router at %s has not stopped yet: %w", c.socket, ctx.Err())
		case <-t.C:
		}
	}
}
