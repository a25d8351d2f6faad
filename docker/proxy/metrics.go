package proxy

import "github.com/prometheus/client_golang/prometheus"

// metrics are the proxy's counters.
type metrics struct {
	requests *prometheus.CounterVec
	rewrites prometheus.Counter
	errors   *prometheus.CounterVec
}

func newMetrics() *metrics {
	const ns = "weave_switch_docker_proxy"
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_requests_total",
			Help: "Docker API requests the proxy received, by class (create, start, attach, exec, logs, events, other)."}, []string{"class"}),
		rewrites: prometheus.NewCounter(prometheus.CounterOpts{Name: ns + "_rewrites_total",
			Help: "Containers the proxy gave addresses and put on the weave network at create."}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: ns + "_errors_total",
			Help: "Requests the proxy answered with an error of its own, by stage (create, forward, hijack, remove)."}, []string{"stage"}),
	}
}

// Collector returns the proxy's metrics.
func (s *Service) Collector() prometheus.Collector { return s.metrics }

// Describe implements prometheus.Collector.Describe.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.rewrites.Describe(ch)
	m.errors.Describe(ch)
}

// Collect implements prometheus.Collector.Collect.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.rewrites.Collect(ch)
	m.errors.Collect(ch)
}
