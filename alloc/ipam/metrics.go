package ipam

import "github.com/prometheus/client_golang/prometheus"

// collector exposes the allocator to Prometheus, read at scrape time.
type collector struct {
	s                                 *Service
	owned, free, allocated, unreached *prometheus.Desc
	wants                             *prometheus.Desc
}

// Collector returns the allocator's metrics.
func (s *Service) Collector() prometheus.Collector {
	const ns = "weave_switch_ipam"
	return &collector{
		s:         s,
		owned:     prometheus.NewDesc(ns+"_owned_addresses", "Addresses of the range this router owns.", nil, nil),
		free:      prometheus.NewDesc(ns+"_free_addresses", "Addresses this router owns and has not handed out.", nil, nil),
		allocated: prometheus.NewDesc(ns+"_allocated_addresses", "Addresses this router handed out to containers.", nil, nil),
		unreached: prometheus.NewDesc(ns+"_unreachable_addresses", "Addresses owned by peers that are unreachable now (candidates for rmpeer if gone).", nil, nil),
		wants:     prometheus.NewDesc(ns+"_pending_requests", "Subnets this router is waiting for space in.", nil, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.owned, c.free, c.allocated, c.unreached, c.wants} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.svc.Status()
	var owned, free, unreached, allocated float64
	for _, p := range st.Peers {
		switch {
		case p.Self:
			owned, free = float64(p.Addresses), float64(p.Free)
		case !p.Alive && !p.Removed:
			unreached += float64(p.Addresses)
		}
	}
	for _, as := range st.Allocations {
		allocated += float64(len(as))
	}
	ch <- prometheus.MustNewConstMetric(c.owned, prometheus.GaugeValue, owned)
	ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, free)
	ch <- prometheus.MustNewConstMetric(c.allocated, prometheus.GaugeValue, allocated)
	ch <- prometheus.MustNewConstMetric(c.unreached, prometheus.GaugeValue, unreached)
	ch <- prometheus.MustNewConstMetric(c.wants, prometheus.GaugeValue, float64(len(st.Wants)))
}
