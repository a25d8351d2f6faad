package plugin

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics counts the driver's calls and failures by method.
type metrics struct {
	mu     sync.Mutex
	calls  map[string]uint64
	errors map[string]uint64
}

func newMetrics() *metrics {
	return &metrics{calls: map[string]uint64{}, errors: map[string]uint64{}}
}

func (m *metrics) observe(method string, err error) {
	m.mu.Lock()
	m.calls[method]++
	if err != nil {
		m.errors[method]++
	}
	m.mu.Unlock()
}

// collector exposes the counters to Prometheus.
type collector struct {
	m             *metrics
	calls, errors *prometheus.Desc
}

// Collector returns the driver's metrics: calls and failed calls by
// method.
func (s *Service) Collector() prometheus.Collector {
	const ns = "weave_switch_docker_plugin"
	return &collector{
		m:      s.metrics,
		calls:  prometheus.NewDesc(ns+"_calls_total", "Plugin calls from dockerd, by method.", []string{"method"}, nil),
		errors: prometheus.NewDesc(ns+"_errors_total", "Plugin calls that failed, by method.", []string{"method"}, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.calls; ch <- c.errors }

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for k, v := range c.m.calls {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(v), k)
	}
	for k, v := range c.m.errors {
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(v), k)
	}
}
