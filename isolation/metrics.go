package isolation

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the filter's drop counters, read from nft at scrape
// time (one nft run per scrape, bounded by a timeout).
type collector struct {
	s       *Service
	drops   *prometheus.Desc
	refused *prometheus.Desc
}

// Collector returns the isolation filter's metrics.
func (s *Service) Collector() prometheus.Collector {
	return &collector{s: s,
		drops: prometheus.NewDesc("weave_switch_isolation_dropped_total",
			"Frames the isolation filter dropped at a container port, by reason.", []string{"port", "reason"}, nil),
		refused: prometheus.NewDesc("weave_switch_isolation_allow_refused_total",
			"Gossiped allowed-pair entries refused, by reason (ahead: clock too far ahead; full: no room).", []string{"reason"}, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.drops; ch <- c.refused }

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.pairs.Stats()
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Ahead), "ahead")
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(st.Full), "full")
	if !c.s.cfg.Isolate {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := c.s.cfg.NFT.Drops(ctx, c.s.cfg.Bridge)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.drops, err)
		return
	}
	for port, d := range v {
		for reason, n := range map[string]uint64{"spoofed_mac": d.SpoofedMAC, "spoofed": d.Spoofed, "other_application": d.OtherApplication} {
			ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(n), port, reason)
		}
	}
}
