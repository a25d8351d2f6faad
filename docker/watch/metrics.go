package watch

import "github.com/prometheus/client_golang/prometheus"

// collector exposes the watcher to Prometheus, read at scrape time.
type collector struct {
	s                                         *Service
	connected, subscriptions, released, again *prometheus.Desc
}

// Collector returns the watcher's metrics.
func (s *Service) Collector() prometheus.Collector {
	const ns = "weave_switch_docker_watch"
	return &collector{
		s:             s,
		connected:     prometheus.NewDesc(ns+"_connected", "1 while the watcher follows the Docker daemon's events.", nil, nil),
		subscriptions: prometheus.NewDesc(ns+"_subscriptions_total", "Times the watcher subscribed to the Docker daemon's events (1 + reconnections).", nil, nil),
		released:      prometheus.NewDesc(ns+"_released_containers_total", "Removed containers whose addresses were released, by how they were found gone (destroy event or reconcile).", []string{"how"}, nil),
		again:         prometheus.NewDesc(ns+"_reattached_containers_total", "Containers attached by name that were attached again when they started.", nil, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.subscriptions, c.released, c.again} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	up := 0.0
	if s.connected {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(c.subscriptions, prometheus.CounterValue, float64(s.sessions))
	for _, how := range []string{"destroy", "reconcile"} {
		ch <- prometheus.MustNewConstMetric(c.released, prometheus.CounterValue, float64(s.released[how]), how)
	}
	ch <- prometheus.MustNewConstMetric(c.again, prometheus.CounterValue, float64(s.attached))
}
