package daemon

import (
	"context"
	"errors"
	"os"

	"github.com/weave-switch/weave-switch/alloc"
	"github.com/weave-switch/weave-switch/api"
)

// shutdown serves the API's down: with req.Leave it first hands this
// host's address ranges to a live peer and leaves the allocation ring
// (refusing, and running on, when no peer can take them); then it makes
// Wait return, and the router tears down once the answer is sent.
func (d *Daemon) shutdown(ctx context.Context, req api.DownRequest) (api.DownResponse, error) {
	resp := api.DownResponse{PID: os.Getpid()}
	if req.Leave {
		heir, n, err := d.ipam.Leave(ctx)
		if errors.Is(err, alloc.ErrNoHeir) {
			return resp, &api.BadRequestError{Err: err}
		}
		if err != nil {
			return resp, err
		}
		resp.Heir, resp.Handed = heir, n
	}
	d.stopOnce.Do(func() { close(d.stop) })
	return resp, nil
}
