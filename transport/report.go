package transport

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Report is a transport's counters, in one shape for every transport:
// what it carried and what it dropped, by name, and the path MTU it
// knows per peer address.
type Report struct {
	// Name is the transport's name: sleeve, wireguard, quic.
	Name string `json:"name"`
	// Counters are events and totals (frames, datagrams and bytes sent
	// and received, fragments, offload batches, reconnects...).
	Counters map[string]uint64 `json:"counters"`
	// Drops are frames or datagrams dropped, by reason.
	Drops map[string]uint64 `json:"drops"`
	// PathMTU is the underlay path MTU by peer address, where the
	// transport learned one below the interface's.
	PathMTU map[string]int `json:"path_mtu,omitempty"`
}

// A Reporter reports its counters.
type Reporter interface {
	Report() Report
}

// collector exposes transports' Reports to Prometheus, read at scrape
// time.
type collector struct {
	rs            []Reporter
	events, drops *prometheus.Desc
}

// Collector returns the metrics of the transports rs.
func Collector(rs ...Reporter) prometheus.Collector {
	const ns = "weave_switch_transport"
	return &collector{
		rs:     rs,
		events: prometheus.NewDesc(ns+"_events_total", "Transport events and totals (frames, datagrams, bytes, fragments, offload batches...), by transport and event.", []string{"transport", "event"}, nil),
		drops:  prometheus.NewDesc(ns+"_dropped_total", "Frames and datagrams a transport dropped, by transport and reason.", []string{"transport", "reason"}, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.events
	ch <- c.drops
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.rs {
		rep := r.Report()
		for ev, v := range rep.Counters {
			ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(v), rep.Name, ev)
		}
		for reason, v := range rep.Drops {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(v), rep.Name, reason)
		}
	}
}
