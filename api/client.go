package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"
)

// Client talks to a router's API socket. It is safe for concurrent use.
type Client struct {
	socket string
	hc     *http.Client
}

// NewClient returns a client for the unix socket at path.
func NewClient(path string) *Client {
	if path == "" {
		path = DefaultSocket
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	return &Client{
		socket: path,
		hc: &http.Client{
			Timeout: 60 * time.Second,
			Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return d.DialContext(ctx, "unix", path)
				},
			},
		},
	}
}

// ErrNoRouter: no router answers on the API socket.
var ErrNoRouter = errors.New("no router is running")

// ErrPermission: the API socket exists but this user may not connect.
var ErrPermission = errors.New("permission denied on the router's API socket")

// JoinToken fetches the token another host joins the router's mesh with.
func (c *Client) JoinToken(ctx context.Context) (string, error) {
	var t JoinToken
	return t.Token, c.do(ctx, http.MethodGet, "/v1/join-token", nil, &t)
}

// Status fetches the router's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	return s, c.do(ctx, http.MethodGet, "/v1/status", nil, &s)
}

// Attach attaches a namespace.
func (c *Client) Attach(ctx context.Context, req AttachRequest) (Attachment, error) {
	var a Attachment
	return a, c.do(ctx, http.MethodPost, "/v1/attach", req, &a)
}

// Detach detaches a namespace.
func (c *Client) Detach(ctx context.Context, req DetachRequest) (DetachResponse, error) {
	var d DetachResponse
	return d, c.do(ctx, http.MethodPost, "/v1/detach", req, &d)
}

// Connect asks the router to connect to a peer, asking for transport tr
// on that link (empty: the router's default).
func (c *Client) Connect(ctx context.Context, addr, tr string) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/connect", ConnectRequest{Address: addr, Transport: tr}, &out)
}

// Forget asks the router to stop connecting to a peer.
func (c *Client) Forget(ctx context.Context, addr string) (ForgetResponse, error) {
	var f ForgetResponse
	return f, c.do(ctx, http.MethodPost, "/v1/forget", ConnectRequest{Address: addr}, &f)
}

// RmPeer reclaims the address space of dead peers.
func (c *Client) RmPeer(ctx context.Context, names []string) (RmPeerResponse, error) {
	var r RmPeerResponse
	return r, c.do(ctx, http.MethodPost, "/v1/rmpeer", RmPeerRequest{Names: names}, &r)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://weave-switch"+path, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w at %s (start one with 'weave-switch up', or pass --api)", ErrNoRouter, c.socket)
		}
		if errors.Is(err, os.ErrPermission) {
			return fmt.Errorf("%w: %s: run as root, or add your user to the group given to 'up --api-group' (and log in again)", ErrPermission, c.socket)
		}
		return fmt.Errorf("router API %s: %w", c.socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("router API %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
