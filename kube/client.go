package kube

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weave-switch/weave-switch/internal/version"
)

// Where a pod finds its service account and the API server.
const (
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	envServiceHost    = "KUBERNETES_SERVICE_HOST"
	envServicePort    = "KUBERNETES_SERVICE_PORT"
)

// Limits of what the client reads from the API server.
const (
	// maxListBody bounds one page of the node list. Nodes carry their
	// images in their status; 250 large ones stay well under it.
	maxListBody = 64 << 20
	// maxEvent bounds one watch event.
	maxEvent = 16 << 20
	// maxErrorBody bounds the body of a failed request read for its
	// Status.
	maxErrorBody = 64 << 10
	// tokenMaxAge is how long a token read from a file is used before the
	// file is read again: the kubelet rotates projected tokens.
	tokenMaxAge = time.Minute
	// requestTimeout bounds a request that is not a watch.
	requestTimeout = time.Minute
)

// listPage is how many nodes one list request asks for.
var listPage = 250

// ClientConfig says where the API server is and how to authenticate.
type ClientConfig struct {
	// Server is the API server's base URL (https://HOST:PORT).
	Server string
	// RootCAs verify the server's certificate; nil means the host's roots.
	RootCAs *x509.CertPool
	// TokenFile holds the bearer token, read again every minute and after
	// a 401; Token is a fixed one, used when TokenFile is empty.
	TokenFile string
	Token     string
}

// Client is a Kubernetes API client for what the router reads: the node
// list and a watch of its changes. It decodes only the fields the router
// uses, so the cluster's other types, and most of each Node, cost
// nothing. Its methods are safe for concurrent use.
type Client struct {
	base *url.URL
	http *http.Client
	ua   string

	tokenFile string
	mu        sync.Mutex
	token     string
	tokenRead time.Time // zero: read the file on the next request
}

// InClusterConfig is the configuration of a pod's service account: the
// API server from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT,
// its CA and the token from the service account's directory.
func InClusterConfig() (ClientConfig, error) {
	host, port := os.Getenv(envServiceHost), os.Getenv(envServicePort)
	if host == "" || port == "" {
		return ClientConfig{}, fmt.Errorf("kube: in-cluster config: not in a pod: %s and %s are not set", envServiceHost, envServicePort)
	}
	ca, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return ClientConfig{}, fmt.Errorf("kube: in-cluster config: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return ClientConfig{}, fmt.Errorf("kube: in-cluster config: no certificate in %s/ca.crt", serviceAccountDir)
	}
	return ClientConfig{Server: "https://" + net.JoinHostPort(host, port), RootCAs: pool,
		TokenFile: serviceAccountDir + "/token"}, nil
}

// NewInClusterClient is the cluster's API through the pod's service
// account.
func NewInClusterClient() (*Client, error) {
	cfg, err := InClusterConfig()
	if err != nil {
		return nil, err
	}
	return NewClient(cfg)
}

// NewClient returns a client for cfg. It does no I/O but reading the
// token file, which must be readable.
func NewClient(cfg ClientConfig) (*Client, error) {
	base, err := url.Parse(cfg.Server)
	if err != nil {
		return nil, fmt.Errorf("kube: server %q: %w", cfg.Server, err)
	}
	if base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("kube: server %q: want https://HOST:PORT", cfg.Server)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		// A watch over HTTP/2 is one stream of a shared connection: pings
		// find a connection that died without a word.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second},
	}
	c := &Client{base: base, http: &http.Client{Transport: tr}, ua: "weave-switch/" + version.Version,
		tokenFile: cfg.TokenFile, token: cfg.Token}
	if c.tokenFile != "" {
		if _, err := c.bearer(false); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// bearer is the token to send; reread forces the file to be read again.
func (c *Client) bearer(reread bool) (string, error) {
	if c.tokenFile == "" {
		return c.token, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !reread && c.token != "" && time.Since(c.tokenRead) < tokenMaxAge {
		return c.token, nil
	}
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		if c.token != "" {
			// Keep the last token: the file may be in the middle of its
			// rotation, and the server says if the token is stale.
			return c.token, nil
		}
		return "", fmt.Errorf("kube: token: %w", err)
	}
	c.token, c.tokenRead = strings.TrimSpace(string(b)), time.Now()
	return c.token, nil
}

// APIError is a request the API server refused or failed, with the
// Status it sent where it sent one.
type APIError struct {
	Code    int    // HTTP status, or the Status's code
	Reason  string // the Status's reason: Expired, Unauthorized, Forbidden...
	Message string
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("kube: API server: ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.Reason != "" {
		b.WriteString(" " + e.Reason)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// IsGone reports whether err says that the resource version asked for is
// too old (410 Gone, or a Status with reason Expired): the list must be
// read again from the start.
func IsGone(err error) bool {
	var e *APIError
	return errors.As(err, &e) && (e.Code == http.StatusGone || e.Reason == "Expired" || e.Reason == "Gone")
}

// status is the part of a Kubernetes Status object the client reads.
type status struct {
	Kind    string `json:"kind"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
	Code    int    `json:"code"`
}

// decodeStatus reads the API error in body, an HTTP response of code
// httpCode: its Status if it is one, else the start of its text.
func decodeStatus(httpCode int, body []byte) *APIError {
	e := &APIError{Code: httpCode}
	var st status
	if json.Unmarshal(body, &st) == nil && st.Kind == "Status" {
		if st.Code != 0 {
			e.Code = st.Code
		}
		e.Reason, e.Message = st.Reason, st.Message
		return e
	}
	msg := strings.TrimSpace(string(body))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	e.Message = strings.ToValidUTF8(msg, "?")
	return e
}

// get sends GET path?query and returns the response once it is a 200;
// any other answer becomes an *APIError. A 401 is tried once more with
// the token file read again.
func (c *Client) get(ctx context.Context, path string, query url.Values) (*http.Response, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	for attempt := 0; ; attempt++ {
		token, err := c.bearer(attempt > 0)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", c.ua)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("kube: %w", err)
		}
		if resp.StatusCode == http.StatusOK {
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 && c.tokenFile != "" {
			continue
		}
		return nil, decodeStatus(resp.StatusCode, body)
	}
}

// NodeList is the cluster's nodes as one list returned them, and the
// resource version a watch of the changes starts from.
type NodeList struct {
	Items           []Node
	ResourceVersion string
}

// nodeListPage is one page of GET /api/v1/nodes.
type nodeListPage struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
		Continue        string `json:"continue"`
	} `json:"metadata"`
	Items []Node `json:"items"`
}

// decodeNodeListPage decodes one page of the node list and checks it.
func decodeNodeListPage(body []byte) (nodeListPage, error) {
	var p nodeListPage
	if err := json.Unmarshal(body, &p); err != nil {
		return nodeListPage{}, fmt.Errorf("kube: node list: %w", err)
	}
	for i := range p.Items {
		if err := p.Items[i].check(); err != nil {
			return nodeListPage{}, fmt.Errorf("kube: node list: item %d: %w", i, err)
		}
	}
	return p, nil
}

// ListNodes reads the whole node list, a page at a time, as one
// consistent snapshot. If the snapshot expires between two pages, it
// starts again.
func (c *Client) ListNodes(ctx context.Context) (NodeList, error) {
	for restarts := 0; ; restarts++ {
		l, err := c.listNodes(ctx)
		if err != nil && IsGone(err) && restarts < 3 {
			continue
		}
		return l, err
	}
}

func (c *Client) listNodes(ctx context.Context) (NodeList, error) {
	var l NodeList
	cont := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(listPage)}}
		if cont != "" {
			q.Set("continue", cont)
		}
		body, err := c.read(ctx, "/api/v1/nodes", q, maxListBody)
		if err != nil {
			return NodeList{}, err
		}
		p, err := decodeNodeListPage(body)
		if err != nil {
			return NodeList{}, err
		}
		l.Items = append(l.Items, p.Items...)
		l.ResourceVersion = p.Metadata.ResourceVersion
		if cont = p.Metadata.Continue; cont == "" {
			return l, nil
		}
	}
}

// read GETs path and returns its body, of at most limit bytes.
func (c *Client) read(ctx context.Context, path string, q url.Values, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.get(ctx, path, q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("kube: %s: %w", path, err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("kube: %s: answer over %d bytes", path, limit)
	}
	return body, nil
}

// EventType is the kind of a watch event.
type EventType string

// The events of a watch.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	// Bookmark carries only a resource version to resume from.
	Bookmark EventType = "BOOKMARK"
)

// Event is one change of the node list. Bookmarks carry only
// Node.ResourceVersion.
type Event struct {
	Type EventType
	Node Node
}

// Watch is a stream of the node list's changes, from one request.
type Watch struct {
	body io.Closer
	lim  *eventLimit
	dec  *json.Decoder
}

// WatchNodes starts a watch of the node list's changes after resource
// version rv (from a list, or the last event seen). The server ends it
// after about timeout; so does ctx.
func (c *Client) WatchNodes(ctx context.Context, rv string, timeout time.Duration) (*Watch, error) {
	q := url.Values{"watch": {"1"}, "allowWatchBookmarks": {"true"},
		"timeoutSeconds": {strconv.Itoa(int(timeout / time.Second))}}
	if rv != "" {
		q.Set("resourceVersion", rv)
	}
	resp, err := c.get(ctx, "/api/v1/nodes", q)
	if err != nil {
		return nil, err
	}
	return newWatch(resp.Body), nil
}

func newWatch(body io.ReadCloser) *Watch {
	lim := &eventLimit{r: body}
	return &Watch{body: body, lim: lim, dec: json.NewDecoder(lim)}
}

// eventLimit bounds the bytes read for one event: past its limit it
// fails the read.
type eventLimit struct {
	r     io.Reader
	n     int64 // bytes read
	limit int64
}

func (l *eventLimit) Read(p []byte) (int, error) {
	if l.n >= l.limit {
		return 0, fmt.Errorf("kube: watch event over %d bytes", maxEvent)
	}
	if room := l.limit - l.n; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	return n, err
}

// watchEvent is an event as the server sends it.
type watchEvent struct {
	Type   EventType       `json:"type"`
	Object json.RawMessage `json:"object"`
}

// Next returns the next event. It returns io.EOF when the server ended
// the watch, an *APIError when it sent one (IsGone: the resource
// version is too old), and another error when the stream broke or held
// something that is not a watch event.
func (w *Watch) Next() (Event, error) {
	// What the decoder holds already was counted when it was read.
	w.lim.limit = w.lim.n + maxEvent
	var we watchEvent
	if err := w.dec.Decode(&we); err != nil {
		if errors.Is(err, io.EOF) {
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("kube: watch: %w", err)
	}
	return decodeEvent(we)
}

// decodeEvent checks a watch event and decodes its object.
func decodeEvent(we watchEvent) (Event, error) {
	switch we.Type {
	case Added, Modified, Deleted, Bookmark:
		var n Node
		if err := json.Unmarshal(we.Object, &n); err != nil {
			return Event{}, fmt.Errorf("kube: watch: %s event: %w", we.Type, err)
		}
		if we.Type == Bookmark {
			if n.ResourceVersion == "" {
				return Event{}, errors.New("kube: watch: bookmark without a resource version")
			}
			return Event{Type: Bookmark, Node: Node{ObjectMeta: ObjectMeta{ResourceVersion: n.ResourceVersion}}}, nil
		}
		if err := n.check(); err != nil {
			return Event{}, fmt.Errorf("kube: watch: %s event: %w", we.Type, err)
		}
		return Event{Type: we.Type, Node: n}, nil
	case "ERROR":
		var st status
		if err := json.Unmarshal(we.Object, &st); err != nil {
			return Event{}, fmt.Errorf("kube: watch: ERROR event: %w", err)
		}
		code := st.Code
		if code == 0 {
			code = http.StatusInternalServerError
		}
		return Event{}, &APIError{Code: code, Reason: st.Reason, Message: st.Message}
	default:
		return Event{}, fmt.Errorf("kube: watch: event of unknown type %.40q", we.Type)
	}
}

// Close ends the watch.
func (w *Watch) Close() error { return w.body.Close() }
