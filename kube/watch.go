package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Timing of the node watch.
const (
	// watchTimeout is the least a watch asks the server to last; each
	// asks for between it and twice it, so that a cluster's routers do
	// not all come back at once.
	watchTimeout = 5 * time.Minute
	// watchGrace is how long past its timeout a silent watch is given
	// before it is taken for dead.
	watchGrace = time.Minute
	// retryMin and retryMax bound the pause after a failed list or watch;
	// it doubles with every failure in a row.
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// nodeCache is the cluster's node list, kept by listing it and then
// watching its changes: a watch that ends is resumed from the last
// resource version seen, and the list is read again when the server no
// longer has that version. changed is called after every change, never
// with the cache's lock held.
type nodeCache struct {
	client  *Client
	log     *slog.Logger
	changed func()

	mu     sync.Mutex
	nodes  map[string]Node
	synced chan struct{} // closed once the first list is in
}

func newNodeCache(client *Client, log *slog.Logger, changed func()) *nodeCache {
	return &nodeCache{client: client, log: log, changed: changed, nodes: map[string]Node{}, synced: make(chan struct{})}
}

// list is the nodes, by name.
func (c *nodeCache) list() []Node {
	c.mu.Lock()
	out := make([]Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		out = append(out, n)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// replace makes the cache hold nodes alone.
func (c *nodeCache) replace(nodes []Node) {
	c.mu.Lock()
	clear(c.nodes)
	for _, n := range nodes {
		c.nodes[n.Name] = n
	}
	first := false
	select {
	case <-c.synced:
	default:
		close(c.synced)
		first = true
	}
	c.mu.Unlock()
	if first {
		c.log.Info("kube: node list synced", "nodes", len(nodes))
	}
	c.changed()
}

// apply applies one watch event.
func (c *nodeCache) apply(ev Event) {
	c.mu.Lock()
	switch ev.Type {
	case Added, Modified:
		c.nodes[ev.Node.Name] = ev.Node
	case Deleted:
		delete(c.nodes, ev.Node.Name)
	}
	c.mu.Unlock()
	c.changed()
}

// run lists and watches until ctx ends.
func (c *nodeCache) run(ctx context.Context) {
	pause := retryMin
	fail := func(what string, err error) {
		c.log.Warn("kube: "+what+" failed; trying again", "err", err, "in", pause)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
		pause = min(2*pause, retryMax)
	}
	rv := ""
	for ctx.Err() == nil {
		if rv == "" {
			l, err := c.client.ListNodes(ctx)
			if err != nil {
				if ctx.Err() == nil {
					fail("listing the nodes", err)
				}
				continue
			}
			c.replace(l.Items)
			if rv = l.ResourceVersion; rv == "" {
				fail("listing the nodes", errors.New("kube: the node list has no resource version to watch from"))
				continue
			}
			pause = retryMin
		}
		timeout := watchTimeout + rand.N(watchTimeout)
		w, err := c.client.WatchNodes(ctx, rv, timeout)
		n := 0
		if err == nil {
			rv, n, err = c.follow(w, rv, timeout+watchGrace)
			if n > 0 {
				pause = retryMin
			}
		}
		switch {
		case ctx.Err() != nil:
		case IsGone(err):
			c.log.Info("kube: the node watch's resource version is gone; listing the nodes again", "err", err)
			rv = ""
		case errors.Is(err, io.EOF) && n > 0:
			// The server ended a watch that carried events or bookmarks:
			// resume at once.
			c.log.Debug("kube: node watch ended; resuming", "resource_version", rv)
		case errors.Is(err, io.EOF):
			// Ended before its first event: something between here and
			// the server cuts watches short. Resuming at once would spin.
			fail("watching the nodes", errors.New("kube: the node watch ended before its first event"))
		default:
			fail("watching the nodes", err)
		}
	}
}

// follow applies w's events until it ends, and returns the resource
// version to resume from, the number of events and why it ended. A watch
// silent for longer than idle is closed.
func (c *nodeCache) follow(w *Watch, rv string, idle time.Duration) (string, int, error) {
	defer w.Close()
	var silent atomic.Bool
	dog := time.AfterFunc(idle, func() {
		silent.Store(true)
		w.Close()
	})
	defer dog.Stop()
	for n := 0; ; n++ {
		ev, err := w.Next()
		if silent.Load() {
			// Whatever the closed stream returned, EOF included.
			return rv, n, fmt.Errorf("kube: node watch silent for %v: closed", idle)
		}
		if err != nil {
			return rv, n, err
		}
		dog.Reset(idle)
		if ev.Node.ResourceVersion != "" {
			rv = ev.Node.ResourceVersion
		}
		if ev.Type != Bookmark {
			c.apply(ev)
		}
	}
}
