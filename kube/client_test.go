package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/kube/kubetest"
)

// newClient is a client of srv with its token file.
func newClient(t *testing.T, srv *kubetest.Server) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{Server: srv.URL(), RootCAs: srv.RootCAs(), TokenFile: srv.TokenFile()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.http.CloseIdleConnections)
	return c
}

func TestListNodesInPages(t *testing.T) {
	defer func(n int) { listPage = n }(listPage)
	listPage = 4
	srv := kubetest.New(t)
	for i := range 10 {
		srv.Create(node(fmt.Sprintf("node-%02d", i), internal(fmt.Sprintf("192.0.2.%d", i+1))))
	}
	c := newClient(t, srv)
	l, err := c.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 10 || l.ResourceVersion != fmt.Sprint(srv.ResourceVersion()) {
		t.Fatalf("list: %d nodes at %s, want 10 at %d", len(l.Items), l.ResourceVersion, srv.ResourceVersion())
	}
	for i, n := range l.Items {
		a, ok := NodeAddress(&n)
		if n.Name != fmt.Sprintf("node-%02d", i) || !ok || a.String() != fmt.Sprintf("192.0.2.%d", i+1) ||
			n.CreationTimestamp.IsZero() || n.UID == "" || n.ResourceVersion == "" {
			t.Errorf("item %d: %+v", i, n)
		}
	}
	if got := srv.Requests("list"); got != 3 {
		t.Errorf("%d list requests for 10 nodes in pages of 4, want 3", got)
	}
}

// A list whose snapshot expires between two pages starts again, and
// returns the nodes as they are at its new start.
func TestListNodesContinueExpired(t *testing.T) {
	defer func(n int) { listPage = n }(listPage)
	listPage = 2
	srv := kubetest.New(t)
	for i := range 5 {
		srv.Create(node(fmt.Sprintf("node-%d", i)))
	}
	srv.BeforeRequest(func(kind string, n int) {
		if kind == "list" && n == 2 {
			srv.Delete("node-4")
			srv.Compact()
		}
	})
	l, err := newClient(t, srv).ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 4 || l.ResourceVersion != fmt.Sprint(srv.ResourceVersion()) {
		t.Fatalf("list after expiry: %d nodes at %s, want 4 at %d", len(l.Items), l.ResourceVersion, srv.ResourceVersion())
	}
	// First page, the expired second, then two pages of the four left.
	if got := srv.Requests("list"); got != 4 {
		t.Errorf("%d list requests, want 4", got)
	}
}

func TestWatchEvents(t *testing.T) {
	srv := kubetest.New(t)
	srv.SetBookmarkInterval(20 * time.Millisecond)
	srv.Create(node("node-a", internal("192.0.2.1")))
	c := newClient(t, srv)
	l, err := c.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w, err := c.WatchNodes(t.Context(), l.ResourceVersion, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	created := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	b := node("node-b", internal("fd00::2"), external("203.0.113.2"))
	b.CreationTimestamp = metav1.NewTime(created)
	srv.Create(b)
	srv.Update(node("node-a", internal("192.0.2.11")))
	gone := node("node-a")
	deleted := metav1.NewTime(created.Add(time.Hour))
	gone.DeletionTimestamp = &deleted
	srv.Update(gone)
	srv.Delete("node-a")

	var got []string
	var bookmark bool
	rv := l.ResourceVersion
	for len(got) < 4 {
		ev, err := w.Next()
		if err != nil {
			t.Fatalf("after %q: %v", got, err)
		}
		if ev.Node.ResourceVersion == rv {
			t.Errorf("event %s at %s, the version of the one before", ev.Type, rv)
		}
		if ev.Type == Bookmark {
			bookmark = true
			continue
		}
		rv = ev.Node.ResourceVersion
		a, _ := NodeAddress(&ev.Node)
		del := ""
		if ev.Node.DeletionTimestamp != nil {
			del = " deleting " + ev.Node.DeletionTimestamp.UTC().Format(time.RFC3339)
		}
		got = append(got, fmt.Sprintf("%s %s %s%s", ev.Type, ev.Node.Name, a, del))
		if ev.Node.Name == "node-b" && !ev.Node.CreationTimestamp.Equal(created) {
			t.Errorf("node-b created %v, want %v", ev.Node.CreationTimestamp, created)
		}
	}
	// node-b's InternalIP is IPv6 only: it wins over the ExternalIP.
	want := []string{
		"ADDED node-b fd00::2",
		"MODIFIED node-a 192.0.2.11",
		"MODIFIED node-a invalid IP deleting 2026-03-04T06:06:07Z",
		"DELETED node-a invalid IP deleting 2026-03-04T06:06:07Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// With nothing changing, bookmarks come.
	for !bookmark {
		ev, err := w.Next()
		if err != nil {
			t.Fatal(err)
		}
		bookmark = ev.Type == Bookmark
	}
}

func TestWatchGoneAndEnded(t *testing.T) {
	srv := kubetest.New(t)
	srv.Create(node("node-a"))
	c := newClient(t, srv)
	l, err := c.ListNodes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	srv.Create(node("node-b"))
	srv.Compact()
	w, err := c.WatchNodes(t.Context(), l.ResourceVersion, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Next(); !IsGone(err) || !strings.Contains(err.Error(), "410 Expired: too old resource version") {
		t.Errorf("watch from a compacted version: %v, want 410 Expired", err)
	}
	w.Close()

	// A watch the server ends returns io.EOF.
	srv.SetMaxWatch(50 * time.Millisecond)
	srv.SetBookmarkInterval(time.Hour)
	w, err = c.WatchNodes(t.Context(), fmt.Sprint(srv.ResourceVersion()), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("watch ended by the server: %v, want EOF", err)
	}
}

// The kubelet rotates the token in its file: after a 401 the client reads
// the file again and goes on.
func TestTokenRotation(t *testing.T) {
	srv := kubetest.New(t)
	srv.Create(node("node-a"))
	c := newClient(t, srv)
	if _, err := c.ListNodes(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.SetToken("token-2")
	if _, err := c.ListNodes(t.Context()); err != nil {
		t.Fatalf("after rotation: %v", err)
	}
	if got := srv.Requests("list"); got != 3 {
		t.Errorf("%d list requests, want 3 (one refused with the old token)", got)
	}
	// A token the file does not hold is refused, with the server's Status.
	fixed, err := NewClient(ClientConfig{Server: srv.URL(), RootCAs: srv.RootCAs(), Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = fixed.ListNodes(t.Context())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized || ae.Reason != "Unauthorized" {
		t.Errorf("wrong token: %v, want 401 Unauthorized", err)
	}
}

func TestAPIErrors(t *testing.T) {
	srv := kubetest.New(t)
	c := newClient(t, srv)
	srv.Fail(http.StatusForbidden)
	_, err := c.ListNodes(t.Context())
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusForbidden || ae.Message != "injected failure" || IsGone(err) {
		t.Errorf("403: %v", err)
	}
	if e := decodeStatus(http.StatusBadGateway, []byte("<html>proxy error</html>")); e.Code != http.StatusBadGateway ||
		e.Message != "<html>proxy error</html>" {
		t.Errorf("a body that is no Status: %+v", e)
	}
	if _, err := NewClient(ClientConfig{Server: "ftp://x"}); err == nil {
		t.Error("an ftp server accepted")
	}
	if _, err := NewClient(ClientConfig{Server: "https://x", TokenFile: t.TempDir() + "/none"}); err == nil {
		t.Error("a missing token file accepted")
	}
	t.Setenv(envServiceHost, "")
	if _, err := NewInClusterClient(); err == nil || !strings.Contains(err.Error(), "not in a pod") {
		t.Errorf("outside a pod: %v", err)
	}
}

// The cache lists once, resumes the watches the server ends from the
// last version seen, and lists again when that version is gone; nodes
// deleted while it could not watch are gone from it after.
func TestNodeCacheResumesAndRelists(t *testing.T) {
	leakcheck.Check(t, 5*time.Second)
	srv := kubetest.New(t)
	srv.SetMaxWatch(100 * time.Millisecond)
	srv.SetBookmarkInterval(20 * time.Millisecond)
	srv.Create(node("node-a", internal("192.0.2.1")))
	srv.Create(node("node-b", internal("192.0.2.2")))
	c := newClient(t, srv)
	changed := make(chan struct{}, 1)
	nc := newNodeCache(c, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { nc.run(ctx) })
	defer wg.Wait()
	defer cancel()
	waitNodes := func(what string, want ...string) {
		t.Helper()
		for {
			var got []string
			for _, n := range nc.list() {
				a, _ := NodeAddress(&n)
				got = append(got, n.Name+"="+a.String())
			}
			if strings.Join(got, " ") == strings.Join(want, " ") {
				return
			}
			select {
			case <-changed:
			case <-time.After(50 * time.Millisecond):
			case <-t.Context().Done():
				t.Fatalf("%s: cache %q, want %q", what, got, want)
			}
		}
	}
	waitNodes("first list", "node-a=192.0.2.1", "node-b=192.0.2.2")
	srv.Create(node("node-c", internal("192.0.2.3")))
	waitNodes("watched", "node-a=192.0.2.1", "node-b=192.0.2.2", "node-c=192.0.2.3")
	// Several watches end; the changes between them are not lost.
	for srv.Requests("watch") < 4 {
		time.Sleep(20 * time.Millisecond)
	}
	srv.Update(node("node-a", internal("192.0.2.11")))
	waitNodes("resumed", "node-a=192.0.2.11", "node-b=192.0.2.2", "node-c=192.0.2.3")
	if got := srv.Requests("list"); got != 1 {
		t.Errorf("%d lists while the watches resumed, want 1", got)
	}
	// The watch is down (the server refuses it) while node-b goes and
	// the history is compacted: the cache lists again.
	srv.Fail(http.StatusServiceUnavailable, http.StatusServiceUnavailable)
	srv.EndWatches()
	for srv.Watches() > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	srv.Delete("node-b")
	srv.Compact()
	waitNodes("listed again", "node-a=192.0.2.11", "node-c=192.0.2.3")
	if got := srv.Requests("list"); got != 2 {
		t.Errorf("%d lists, want 2", got)
	}
}

// A list that fails is tried again until it works.
func TestNodeCacheRetriesList(t *testing.T) {
	srv := kubetest.New(t)
	srv.Create(node("node-a"))
	srv.Fail(http.StatusInternalServerError, http.StatusTooManyRequests)
	nc := newNodeCache(newClient(t, srv), slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { nc.run(ctx) })
	defer wg.Wait()
	defer cancel()
	select {
	case <-nc.synced:
	case <-time.After(20 * time.Second):
		t.Fatal("not synced after two failed lists")
	}
	if n := nc.list(); len(n) != 1 || srv.Requests("list") != 3 {
		t.Errorf("cache %v after %d lists, want node-a after 3", n, srv.Requests("list"))
	}
}

// A watch that stays silent past its timeout is taken for dead.
func TestFollowClosesSilentWatch(t *testing.T) {
	srv := kubetest.New(t)
	srv.SetBookmarkInterval(time.Hour)
	c := newClient(t, srv)
	w, err := c.WatchNodes(t.Context(), fmt.Sprint(srv.ResourceVersion()), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	nc := newNodeCache(c, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	start := time.Now()
	rv, n, err := nc.follow(w, "7", 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "silent") || errors.Is(err, io.EOF) || rv != "7" || n != 0 {
		t.Errorf("silent watch: %q %d %v, want an error and the version given", rv, n, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("silent watch closed after %v", d)
	}
}

// Watches that end before their first event (a proxy that cuts them
// short) are retried after a pause, not at once in a loop.
func TestNodeCacheEmptyWatchesPause(t *testing.T) {
	srv := kubetest.New(t)
	srv.SetBookmarkInterval(time.Hour)
	srv.SetMaxWatch(time.Millisecond)
	srv.Create(node("node-a"))
	nc := newNodeCache(newClient(t, srv), slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() { nc.run(ctx) })
	<-nc.synced
	time.Sleep(1500 * time.Millisecond)
	cancel()
	wg.Wait()
	// Within 1.5 s: the first watch, and one after the 1 s pause.
	if n := srv.Requests("watch"); n < 1 || n > 3 {
		t.Errorf("%d watches in 1.5 s, want 1 to 3", n)
	}
}
