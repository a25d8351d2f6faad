package router

import (
	"github.com/prometheus/client_golang/prometheus"
)

// collector exposes the data path's counters to Prometheus. It reads them
// at scrape time, so the data path pays nothing for metrics.
type collector struct {
	r                                    *Router
	txFrames, txBytes, rxFrames, rxBytes *prometheus.Desc
	txErrors, rtt                        *prometheus.Desc
	bridgeFrames, drops, macs, events    *prometheus.Desc
	moves                                *prometheus.Desc
}

// Collector returns the router's metrics: per link, the bridge port's,
// the drops by reason and the MAC table's.
func (r *Router) Collector() prometheus.Collector {
	const ns = "weave_switch"
	link := []string{"peer", "transport"}
	return &collector{
		r:            r,
		txFrames:     prometheus.NewDesc(ns+"_link_tx_frames_total", "Frames sent to a peer.", link, nil),
		txBytes:      prometheus.NewDesc(ns+"_link_tx_bytes_total", "Frame bytes sent to a peer.", link, nil),
		rxFrames:     prometheus.NewDesc(ns+"_link_rx_frames_total", "Frames received from a peer.", link, nil),
		rxBytes:      prometheus.NewDesc(ns+"_link_rx_bytes_total", "Frame bytes received from a peer.", link, nil),
		txErrors:     prometheus.NewDesc(ns+"_link_tx_errors_total", "Failed sends to a peer.", link, nil),
		rtt:          prometheus.NewDesc(ns+"_link_rtt_seconds", "Round trip of the last answered data-path heartbeat to a peer.", link, nil),
		bridgeFrames: prometheus.NewDesc(ns+"_bridge_frames_total", "Frames read from and written to the bridge port.", []string{"direction"}, nil),
		drops:        prometheus.NewDesc(ns+"_dropped_frames_total", "Frames the switch and the router dropped, by reason.", []string{"reason"}, nil),
		macs:         prometheus.NewDesc(ns+"_mac_entries", "MAC addresses in the switch table.", nil, nil),
		events:       prometheus.NewDesc(ns+"_mac_events_total", "MAC table events.", []string{"event"}, nil),
		moves:        prometheus.NewDesc(ns+"_endpoint_moves_total", "Peers' data endpoints moved on proof (a NAT mapped a peer anew).", nil, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.txFrames, c.txBytes, c.rxFrames, c.rxBytes, c.txErrors, c.rtt,
		c.bridgeFrames, c.drops, c.macs, c.events, c.moves} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	health := c.r.LinkHealth()
	for _, p := range c.r.Peers() {
		name := p.Name.String()
		counter(c.txFrames, p.TxFrames, name, p.Transport)
		counter(c.txBytes, p.TxBytes, name, p.Transport)
		counter(c.rxFrames, p.RxFrames, name, p.Transport)
		counter(c.rxBytes, p.RxBytes, name, p.Transport)
		counter(c.txErrors, p.TxErrors, name, p.Transport)
		if h, ok := health[p.Name]; ok && !h.LastPong.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.rtt, prometheus.GaugeValue, h.RTT.Seconds(), name, p.Transport)
		}
	}
	k := c.r.Counters()
	counter(c.bridgeFrames, k.FromDevice, "from_bridge")
	counter(c.bridgeFrames, k.ToDevice, "to_bridge")
	for reason, v := range c.r.Drops() {
		counter(c.drops, v, reason)
	}
	s := c.r.SwitchStats()
	ch <- prometheus.MustNewConstMetric(c.macs, prometheus.GaugeValue, float64(s.Entries))
	counter(c.events, s.Learned, "learned")
	counter(c.events, s.Moves, "moved")
	counter(c.events, s.Evictions, "evicted")
	counter(c.events, s.Expired, "expired")
	counter(c.moves, k.EndpointMoves)
}

// Drops are the frames the switch and the router dropped, by reason.
func (r *Router) Drops() map[string]uint64 {
	s := r.sw.Stats()
	k := r.Counters()
	out := map[string]uint64{
		"malformed": s.DropMalformed, "multicast_src": s.DropMulticastSrc, "link_local": s.DropLinkLocal,
		"echo": s.DropEcho, "local_dst": s.DropLocalDst, "own_frame": s.DropOwnFrame, "no_src_peer": s.DropNoSrcPeer,
		"no_peer": k.NoPeer, "send_error": k.SendErrors, "no_route": k.NoRoute, "unknown_sender": k.UnknownSender,
		"rx_queue_full": k.RxQueueDrops, "wrong_source": k.WrongSource, "bad_gso": k.BadGSO,
		"off_tree": k.OffTree,
	}
	if d, ok := r.cfg.Device.(interface{ Dropped() uint64 }); ok {
		out["needs_offload"] = d.Dropped()
	}
	return out
}
