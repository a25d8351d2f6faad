// Package kubetest is an in-memory Kubernetes API server for tests of
// the router's Kubernetes mode: the Node resource alone, over HTTPS with
// a bearer token, speaking the API's wire format. Objects are the
// k8s.io/api types encoded as the API server encodes them, and the
// server keeps the semantics the client relies on: resource versions,
// lists in pages with continue tokens, watches from a resource version
// with bookmarks and a timeout, "410 Gone" for versions compacted away,
// Status objects on errors.
package kubetest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// event is one change of the store, numbered by resource version.
type event struct {
	rv   int64
	typ  string // ADDED, MODIFIED, DELETED
	node corev1.Node
}

// Server is the API server. Its methods are safe for concurrent use.
type Server struct {
	t   *testing.T
	srv *httptest.Server

	mu        sync.Mutex
	token     string
	tokenFile string
	rv        int64
	nodes     map[string]corev1.Node
	base      map[string]corev1.Node // the store at compacted
	compacted int64
	log       []event // changes after compacted
	watches   map[chan event]struct{}
	stop      chan struct{} // closed by EndWatches, then replaced
	fail      []int         // status codes the next requests get
	requests  map[string]int
	bookmark  time.Duration
	maxWatch  time.Duration
	before    func(kind string, n int)
}

// New starts a server, stopped when the test ends. Its token is in the
// file TokenFile.
func New(t *testing.T) *Server {
	t.Helper()
	s := &Server{t: t, nodes: map[string]corev1.Node{}, base: map[string]corev1.Node{}, watches: map[chan event]struct{}{},
		stop: make(chan struct{}), requests: map[string]int{}, bookmark: time.Second, rv: 100}
	s.compacted = s.rv
	s.tokenFile = filepath.Join(t.TempDir(), "token")
	s.SetToken("token-1")
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.EndWatches()
		s.srv.Close()
	})
	return s
}

// URL is the server's base URL.
func (s *Server) URL() string { return s.srv.URL }

// RootCAs verify the server's certificate.
func (s *Server) RootCAs() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// TokenFile is the file holding the token the server accepts.
func (s *Server) TokenFile() string { return s.tokenFile }

// SetToken rotates the token: the server accepts only the new one, and
// the token file holds it.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
	if err := os.WriteFile(s.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		s.t.Error(err)
	}
}

// SetBookmarkInterval sets how often watches that allow bookmarks get
// one (default one second).
func (s *Server) SetBookmarkInterval(d time.Duration) {
	s.mu.Lock()
	s.bookmark = d
	s.mu.Unlock()
}

// SetMaxWatch ends every watch after d at most, whatever timeout it
// asked for (0: its own).
func (s *Server) SetMaxWatch(d time.Duration) {
	s.mu.Lock()
	s.maxWatch = d
	s.mu.Unlock()
}

// BeforeRequest calls f before serving each request, with its kind
// ("list", "watch") and how many of that kind came before it, counting
// from one.
func (s *Server) BeforeRequest(f func(kind string, n int)) {
	s.mu.Lock()
	s.before = f
	s.mu.Unlock()
}

// Fail makes the next requests fail with these HTTP status codes, one
// each, in order.
func (s *Server) Fail(codes ...int) {
	s.mu.Lock()
	s.fail = append(s.fail, codes...)
	s.mu.Unlock()
}

// Requests is how many requests of a kind ("list", "watch") were served,
// failed ones included.
func (s *Server) Requests(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[kind]
}

// Watches is how many watches are open.
func (s *Server) Watches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.watches)
}

// ResourceVersion is the store's resource version.
func (s *Server) ResourceVersion() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rv
}

// Create adds a node; its creation time is now unless set.
func (s *Server) Create(n *corev1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.nodes[n.Name]; ok {
		s.t.Errorf("kubetest: node %s exists", n.Name)
		return
	}
	c := *n.DeepCopy()
	if c.CreationTimestamp.IsZero() {
		c.CreationTimestamp = metav1.NewTime(time.Now().Truncate(time.Second))
	}
	c.UID = types.UID(fmt.Sprintf("uid-%s-%d", c.Name, s.rv+1))
	s.changeLocked("ADDED", c)
}

// Update replaces a node's status and deletion time, keeping its
// identity and age.
func (s *Server) Update(n *corev1.Node) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.nodes[n.Name]
	if !ok {
		s.t.Errorf("kubetest: no node %s to update", n.Name)
		return
	}
	old.Status = *n.Status.DeepCopy()
	old.DeletionTimestamp = n.DeletionTimestamp
	s.changeLocked("MODIFIED", old)
}

// Delete removes a node.
func (s *Server) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.nodes[name]
	if !ok {
		s.t.Errorf("kubetest: no node %s to delete", name)
		return
	}
	s.changeLocked("DELETED", old)
}

// Compact forgets the history: lists continued and watches started from
// a resource version before now get 410 Gone.
func (s *Server) Compact() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.compacted, s.log = s.rv, nil
	s.base = cloneNodes(s.nodes)
}

// EndWatches ends every open watch, as an API server that restarts does.
func (s *Server) EndWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.stop)
	s.stop = make(chan struct{})
}

func cloneNodes(m map[string]corev1.Node) map[string]corev1.Node {
	out := make(map[string]corev1.Node, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Server) changeLocked(typ string, n corev1.Node) {
	s.rv++
	n.ResourceVersion = strconv.FormatInt(s.rv, 10)
	if typ == "DELETED" {
		delete(s.nodes, n.Name)
	} else {
		s.nodes[n.Name] = n
	}
	ev := event{rv: s.rv, typ: typ, node: n}
	s.log = append(s.log, ev)
	for ch := range s.watches {
		select {
		case ch <- ev:
		default:
			// A watcher too slow for its buffer is dropped, as the API
			// server drops one: its stream ends.
			delete(s.watches, ch)
			close(ch)
		}
	}
}

// stateAt is the store as it was at resource version rv.
func (s *Server) stateAt(rv int64) map[string]corev1.Node {
	out := cloneNodes(s.base)
	for _, ev := range s.log {
		if ev.rv > rv {
			break
		}
		if ev.typ == "DELETED" {
			delete(out, ev.node.Name)
		} else {
			out[ev.node.Name] = ev.node
		}
	}
	return out
}

func (s *Server) writeStatus(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(status(code, reason, msg))
}

func status(code int, reason, msg string) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
		Message: msg, Reason: metav1.StatusReason(reason), Code: int32(code)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	kind := "list"
	if r.URL.Query().Get("watch") == "1" || r.URL.Query().Get("watch") == "true" {
		kind = "watch"
	}
	s.mu.Lock()
	s.requests[kind]++
	n, before := s.requests[kind], s.before
	s.mu.Unlock()
	if before != nil {
		before(kind, n)
	}
	s.mu.Lock()
	token := s.token
	var fail int
	if len(s.fail) > 0 {
		fail, s.fail = s.fail[0], s.fail[1:]
	}
	s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+token {
		s.writeStatus(w, http.StatusUnauthorized, "Unauthorized", "Unauthorized")
		return
	}
	if fail != 0 {
		s.writeStatus(w, fail, http.StatusText(fail), "injected failure")
		return
	}
	if r.Method != http.MethodGet || r.URL.Path != "/api/v1/nodes" {
		s.writeStatus(w, http.StatusNotFound, "NotFound", "the server could not find the requested resource")
		return
	}
	if kind == "watch" {
		s.watch(w, r)
		return
	}
	s.list(w, r)
}

// list serves a page of the node list. A continue token is the resource
// version of the list's snapshot and the last name served, in base64.
func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	s.mu.Lock()
	rv, after := s.rv, ""
	if c := q.Get("continue"); c != "" {
		raw, err := base64.RawURLEncoding.DecodeString(c)
		v, name, ok := strings.Cut(string(raw), "/")
		n, perr := strconv.ParseInt(v, 10, 64)
		if err != nil || !ok || perr != nil {
			s.mu.Unlock()
			s.writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid continue token")
			return
		}
		if n < s.compacted {
			s.mu.Unlock()
			s.writeStatus(w, http.StatusGone, "Expired", "The provided continue parameter is too old to display a consistent list result.")
			return
		}
		rv, after = n, name
	}
	state := s.stateAt(rv)
	s.mu.Unlock()
	names := make([]string, 0, len(state))
	for name := range state {
		if name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	list := corev1.NodeList{TypeMeta: metav1.TypeMeta{Kind: "NodeList", APIVersion: "v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10)}}
	for i, name := range names {
		if limit > 0 && i == limit {
			list.Continue = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(rv, 10) + "/" + names[i-1]))
			break
		}
		list.Items = append(list.Items, state[name])
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(&list)
}

// watchEvent is an event as the API server streams it.
type watchEvent struct {
	Type   string `json:"type"`
	Object any    `json:"object"`
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fl, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	send := func(typ string, obj any) bool {
		if err := enc.Encode(watchEvent{Type: typ, Object: obj}); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	node := func(n corev1.Node) *corev1.Node {
		n.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
		return &n
	}
	timeout := time.Hour
	if secs, err := strconv.Atoi(q.Get("timeoutSeconds")); err == nil && secs > 0 {
		timeout = time.Duration(secs) * time.Second
	}
	s.mu.Lock()
	if s.maxWatch > 0 {
		timeout = min(timeout, s.maxWatch)
	}
	bookmarks := q.Get("allowWatchBookmarks") == "true"
	every := s.bookmark
	stop := s.stop
	var backlog []event
	rvParam := q.Get("resourceVersion")
	from, err := strconv.ParseInt(rvParam, 10, 64)
	switch {
	case rvParam == "" || rvParam == "0":
		// From now, with the current nodes as ADDED events first.
		names := make([]string, 0, len(s.nodes))
		for name := range s.nodes {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			backlog = append(backlog, event{rv: s.rv, typ: "ADDED", node: s.nodes[name]})
		}
	case err != nil:
		s.mu.Unlock()
		s.writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid resourceVersion")
		return
	case from < s.compacted:
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		send("ERROR", status(http.StatusGone, "Expired", fmt.Sprintf("too old resource version: %d (%d)", from, s.compacted+1)))
		return
	default:
		for _, ev := range s.log {
			if ev.rv > from {
				backlog = append(backlog, ev)
			}
		}
	}
	ch := make(chan event, 1024)
	s.watches[ch] = struct{}{}
	last := s.rv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watches, ch)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	if fl != nil {
		fl.Flush()
	}
	for _, ev := range backlog {
		if !send(ev.typ, node(ev.node)) {
			return
		}
	}
	end := time.NewTimer(timeout)
	defer end.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-stop:
			return
		case <-end.C:
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			last = ev.rv
			if !send(ev.typ, node(ev.node)) {
				return
			}
		case <-tick.C:
			if bookmarks {
				b := corev1.Node{ObjectMeta: metav1.ObjectMeta{ResourceVersion: strconv.FormatInt(last, 10)}}
				if !send("BOOKMARK", node(b)) {
					return
				}
			}
		}
	}
}
